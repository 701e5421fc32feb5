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
    @Test func aUsenetRequestBecomesAvailableThroughNZBGet() async throws {
        let directory = try TemporaryDirectory()
        let library = directory.path + "/library"
        try FileManager.default.createDirectory(atPath: library, withIntermediateDirectories: true)
        let news = try await NewsServer()
        let nzbget = try await NZBGetDaemon(newsServer: news)
        let fixture = try await NZBFixture(in: directory, server: news, name: "01 - Chapter 1.mp3", size: 2 << 20)
        let prowlarr = try await ProwlarrStandIn()
        // Advertised above the size below which a release is a sample.
        prowlarr.add(
            title: "Jane Austen - Pride and Prejudice (Unabridged) [MP3]", size: 24_000_000, protocol: "usenet", torrent: try fixture.nzb)
        let server = try await PlexStandIn()
        server.watch(folder: library)
        let pipeline = try await DownloadPipeline(
            plugin: "libDownloadNZBGet.so",
            config: #"url: "\#(nzbget.url)", username: \#(nzbget.username), password: "\#(nzbget.password)", indexer_api_key: \#(prowlarr.apiKey), indexer_url: "\#(prowlarr.url)""#,
            organizeConcurrency: 1, library: library, search: "url: \"\(prowlarr.url)\", api_key: \(prowlarr.apiKey)",
            libraryBackend: (server.pluginFile, server.pluginConfig(extra: "scan_settle_seconds: 0.3")),
            organizerConfig: "scan_after_import: true")
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
        let directory = try TemporaryDirectory()
        let library = directory.path + "/library"
        try FileManager.default.createDirectory(atPath: library, withIntermediateDirectories: true)
        let news = try await NewsServer()
        let nzbget = try await NZBGetDaemon(newsServer: news)
        let broken = try await NZBFixture(in: directory, server: news, name: "01 - Chapter 1.mp3", size: 3 << 20, missingParts: [2])
        let whole = try await NZBFixture(in: directory, server: news, name: "01 - Chapter 1.mp3", size: 2 << 20)
        let prowlarr = try await ProwlarrStandIn()
        let brokenTitle = "Jane Austen - Pride and Prejudice (Unabridged) [MP3]"
        let wholeTitle = "Pride and Prejudice - Jane Austen [MP3 64kbps]"
        prowlarr.add(title: brokenTitle, size: 24_000_000, protocol: "usenet", torrent: try broken.nzb)
        prowlarr.add(title: wholeTitle, size: 24_000_000, protocol: "usenet", torrent: try whole.nzb)
        let server = try await PlexStandIn()
        server.watch(folder: library)
        let pipeline = try await DownloadPipeline(
            plugin: "libDownloadNZBGet.so",
            config: #"url: "\#(nzbget.url)", username: \#(nzbget.username), password: "\#(nzbget.password)", indexer_api_key: \#(prowlarr.apiKey), indexer_url: "\#(prowlarr.url)""#,
            organizeConcurrency: 1, library: library,
            libraryBackend: (server.pluginFile, server.pluginConfig(extra: "scan_settle_seconds: 0.3")),
            organizerConfig: "scan_after_import: true")
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
        try await pipeline.stop()
    }
}
