import Foundation
import PipelineHost
import ServiceStandIns
import Testing

/// A request over usenet, on real parts: Prowlarr's stand-in lists a usenet
/// release and serves its NZB; the host fetches the NZB and hands it to real
/// NZBGet through the C driver; NZBGet fetches yEnc articles from a news
/// server on loopback; the organizer imports from NZBGet's destination; Plex's
/// stand-in lists the book; the request becomes `available`.
@Suite struct UsenetEndToEndTests {
    /// A news server, NZBGet, the Plex stand-in watching a library folder,
    /// and (from ``pipeline(_:search:)``) a host with NZBGet as its
    /// download client.
    struct Rig {
        let directory: TemporaryDirectory
        let library: String
        let news: NewsServer
        let nzbget: NZBGetDaemon
        let server: PlexStandIn

        init() async throws {
            directory = try TemporaryDirectory()
            library = directory.path + "/library"
            try FileManager.default.createDirectory(atPath: library, withIntermediateDirectories: true)
            news = try await NewsServer()
            nzbget = try await NZBGetDaemon(newsServer: news)
            server = try await PlexStandIn()
            server.watch(folder: library)
        }

        func nzb(_ name: String, size: Int, missingParts: [Int] = []) async throws -> NZBFixture {
            try await NZBFixture(in: directory, server: news, name: name, size: size, missingParts: missingParts)
        }

        func pipeline(_ prowlarr: ProwlarrStandIn, search: String? = nil) async throws -> DownloadPipeline {
            try await DownloadPipeline(
                plugin: "libDownloadNZBGet.so",
                config: #"url: "\#(nzbget.url)", username: \#(nzbget.username), password: "\#(nzbget.password)", indexer_api_key: \#(prowlarr.apiKey), indexer_url: "\#(prowlarr.url)""#,
                organizeConcurrency: 1, library: library, search: search,
                libraryBackend: (server.pluginFile, server.pluginConfig(extra: "scan_settle_seconds: 0.3")),
                organizerConfig: "scan_after_import: true")
        }
    }

    @Test func aUsenetRequestBecomesAvailableThroughNZBGet() async throws {
        let rig = try await Rig()
        let library = rig.library
        let fixture = try await rig.nzb("01 - Chapter 1.mp3", size: 2 << 20)
        let prowlarr = try await ProwlarrStandIn()
        // Advertised above the size below which a release is a sample.
        prowlarr.add(
            title: "Jane Austen - Pride and Prejudice (Unabridged) [MP3]", size: 24_000_000, protocol: "usenet", torrent: try fixture.nzb)
        let pipeline = try await rig.pipeline(prowlarr, search: "url: \"\(prowlarr.url)\", api_key: \(prowlarr.apiKey)")
        let request = try await pipeline.runtime.submit(NewRequest(title: "Pride and Prejudice", author: "Jane Austen")).id
        try await eventually("available", timeout: .seconds(90), every: .milliseconds(200)) {
            let row = try await pipeline.requestRow(request)
            if row.status == "failed" || row.status == "warn" { throw TestFailure("the request ended \(row.status): \(row.reason ?? "")") }
            return row.status == "available"
        }
        let folder = library + "/Jane Austen/Pride and Prejudice"
        let names = try FileManager.default.contentsOfDirectory(atPath: folder)
        #expect(names == ["01 - Chapter 1.mp3"], "\(names)")
        let imported = try Data(contentsOf: URL(fileURLWithPath: folder + "/01 - Chapter 1.mp3"))
        #expect(imported == (try Data(contentsOf: URL(fileURLWithPath: fixture.file))), "the file in the library is byte for byte the one posted")
        let history = try await pipeline.postgres.query("SELECT client FROM download_history WHERE request_id = $1", [request]).rows
        #expect(history == [["nzbget"]])
        try await pipeline.stop()
    }

    /// The chosen release fails in NZBGet (an article the server does not
    /// have: FAILURE/HEALTH); the host removes it from NZBGet, data and all,
    /// and the next alternate completes the request.
    @Test func aReleaseWithAMissingArticleGivesWayToTheNextAlternate() async throws {
        let rig = try await Rig()
        let (library, nzbget) = (rig.library, rig.nzbget)
        let broken = try await rig.nzb("01 - Chapter 1.mp3", size: 3 << 20, missingParts: [2])
        let whole = try await rig.nzb("01 - Chapter 1.mp3", size: 2 << 20)
        let prowlarr = try await ProwlarrStandIn()
        let brokenTitle = "Jane Austen - Pride and Prejudice (Unabridged) [MP3]"
        let wholeTitle = "Pride and Prejudice - Jane Austen [MP3 64kbps]"
        prowlarr.add(title: brokenTitle, size: 24_000_000, protocol: "usenet", torrent: try broken.nzb)
        prowlarr.add(title: wholeTitle, size: 24_000_000, protocol: "usenet", torrent: try whole.nzb)
        let pipeline = try await rig.pipeline(prowlarr)
        let request = try await pipeline.ledger.create(title: "Pride and Prejudice", author: "Jane Austen", status: .pending).id
        // The search's choice, written as the search writes it: the broken release first.
        let releases = prowlarr.releaseLinks
        let payload = #"{"request_id":"\#(request)","book":{"title":"Pride and Prejudice","author":"Jane Austen"},"release":{"title":"\#(brokenTitle)","protocol":"usenet","download_url":"\#(releases[brokenTitle]!)"},"alternates":[{"title":"\#(wholeTitle)","protocol":"usenet","download_url":"\#(releases[wholeTitle]!)"}]}"#
        _ = try await pipeline.runtime.enqueue("download_torrent", payloadJSON: payload)
        try await eventually("available", timeout: .seconds(90), every: .milliseconds(200)) {
            let row = try await pipeline.requestRow(request)
            if row.status == "failed" || row.status == "warn" { throw TestFailure("the request ended \(row.status): \(row.reason ?? "")") }
            return row.status == "available"
        }
        let imported = try Data(contentsOf: URL(fileURLWithPath: library + "/Jane Austen/Pride and Prejudice/01 - Chapter 1.mp3"))
        #expect(imported == (try Data(contentsOf: URL(fileURLWithPath: whole.file))), "the alternate's file, byte for byte")
        // The broken one failed in NZBGet and was removed from it, data and all.
        let downloads = try await pipeline.postgres.query(
            "SELECT release_title, status FROM download_history WHERE request_id = $1 ORDER BY id", [request]).rows
        #expect(downloads.first == [brokenTitle, "failed"], "\(downloads)")
        #expect(downloads.last == [wholeTitle, "completed"], "\(downloads)")
        let intermediate = (try? FileManager.default.contentsOfDirectory(atPath: nzbget.interDirectory)) ?? []
        #expect(intermediate.isEmpty, "the failed download's data is gone: \(intermediate)")
        let failures = try await pipeline.postgres.query(
            "SELECT job_type FROM jobs WHERE request_id = $1 AND status = 'failed'", [request]).rows
        #expect(failures.isEmpty, "no job failed: the monitor handed the alternate on")
        // The failed release is blocklisted for the book, with NZBGet's reason.
        let blocked = try await pipeline.ledger.blocklist(request: request)
        #expect(blocked.map(\.releaseTitle) == [brokenTitle])
        #expect(blocked.first?.protocol == "usenet" && blocked.first?.releaseID == nil, "an NZBGet id is no release id")
        #expect(blocked.first?.reason.contains("FAILURE") == true, "\(blocked)")
        try await pipeline.stop()
    }

    /// The search chose one release and no alternate (max_alternates: 0).
    /// It fails in NZBGet: the host blocklists it and searches again, and the
    /// new search passes over it and takes the other release. A second book
    /// has no other release: after the same failure, its request fails,
    /// saying what was tried.
    @Test func withNoAlternateLeftTheHostSearchesAgainPassingOverTheFailedRelease() async throws {
        let rig = try await Rig()
        let library = rig.library
        let broken = try await rig.nzb("01 - Chapter 1.mp3", size: 3 << 20, missingParts: [2])
        let whole = try await rig.nzb("01 - Chapter 1.mp3", size: 2 << 20)
        let brokenEmma = try await rig.nzb("01 - Emma.mp3", size: 3 << 20, missingParts: [1])
        let prowlarr = try await ProwlarrStandIn()
        // The indexer bonus ranks the broken releases (indexer 12) first.
        let brokenTitle = "Jane Austen - Pride and Prejudice (Unabridged) [MP3]"
        let wholeTitle = "Pride and Prejudice - Jane Austen [MP3 64kbps]"
        let emmaTitle = "Jane Austen - Emma (Unabridged) [MP3]"
        prowlarr.add(title: brokenTitle, indexer: 12, size: 24_000_000, protocol: "usenet", torrent: try broken.nzb)
        prowlarr.add(title: wholeTitle, indexer: 3, size: 24_000_000, protocol: "usenet", torrent: try whole.nzb)
        prowlarr.add(title: emmaTitle, indexer: 12, size: 24_000_000, protocol: "usenet", torrent: try brokenEmma.nzb)
        let pipeline = try await rig.pipeline(prowlarr, search: "url: \"\(prowlarr.url)\", api_key: \(prowlarr.apiKey), max_alternates: 0, indexer_bonus: {\"12\": 100}")
        let pride = try await pipeline.runtime.submit(NewRequest(title: "Pride and Prejudice", author: "Jane Austen")).id
        let emma = try await pipeline.runtime.submit(NewRequest(title: "Emma", author: "Jane Austen")).id
        try await eventually("both settled", timeout: .seconds(120), every: .milliseconds(200)) {
            let (first, second) = (try await pipeline.requestRow(pride), try await pipeline.requestRow(emma))
            if first.status == "failed" || first.status == "warn" { throw TestFailure("Pride and Prejudice ended \(first.status): \(first.reason ?? "")") }
            return first.status == "available" && second.status == "failed"
        }
        let imported = try Data(contentsOf: URL(fileURLWithPath: library + "/Jane Austen/Pride and Prejudice/01 - Chapter 1.mp3"))
        #expect(imported == (try Data(contentsOf: URL(fileURLWithPath: whole.file))), "the other release's file, byte for byte")
        #expect(try await pipeline.ledger.blocklist(request: pride).map(\.releaseTitle) == [brokenTitle])
        // Two searches for it, the second passing over the failed release.
        let searches = try await pipeline.postgres.query(
            "SELECT payload FROM jobs WHERE request_id = $1 AND job_type = 'search_indexers' ORDER BY created_at", [pride]).rows
        #expect(searches.count == 2, "\(searches)")
        #expect(searches.last?.first??.contains(brokenTitle) == true, "the second search's blocklist names the failed release")

        let emmaRow = try await pipeline.requestRow(emma)
        #expect(emmaRow.reason?.contains("no other acceptable release") == true, "\(emmaRow.reason ?? "")")
        #expect(emmaRow.reason?.contains(emmaTitle) == true, "the reason lists what was tried: \(emmaRow.reason ?? "")")
        #expect(try await pipeline.ledger.blocklist(request: emma).map(\.releaseTitle) == [emmaTitle])
        try await pipeline.stop()
    }
}
