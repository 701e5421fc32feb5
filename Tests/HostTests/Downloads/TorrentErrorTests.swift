import Foundation
import PipelineHost
import PipelineJSON
import Testing

/// A torrent that goes to error in the middle of its download, in a real
/// client: the host removes it with its data, blocklists the release for the
/// book, and the next release is downloaded to the end.
///
/// How each client is put in error (found by experiment, 4 of 4 runs each):
/// - Transmission 3.00: stop the torrent, wait until it is stopped, delete
///   its folder, start it: `error` 3, "No data found!", at once and for good.
///   (A folder deleted while it runs is written back from the cache.)
/// - qBittorrent 4.5: stop the daemon, delete the folder, start it again: the
///   saved progress no longer matches the disk, and the torrent comes back
///   `missingFiles`. (While it runs, its open files hide a deletion.)
@Suite struct TorrentErrorTests {
    enum Client: String, CaseIterable, Sendable {
        case qbittorrent, transmission
    }

    static let sizes = [400_000, 400_000, 400_000]

    @Test(arguments: Client.allCases)
    func aTorrentInErrorMidDownloadGivesWayToTheNextReleaseWhichCompletes(_ client: Client) async throws {
        let tracker = try await OpenTracker()
        let directory = try TemporaryDirectory()
        let bad = try await TorrentFixture(in: directory, name: "Jane Austen - Pride and Prejudice [broken]", sizes: Self.sizes, tracker: tracker.announce)
        let good = try await TorrentFixture(in: directory, name: "Jane Austen - Pride and Prejudice", sizes: Self.sizes, tracker: tracker.announce)
        for book in [bad, good] { try tracker.allow(book.infoHash) }
        let indexer = try await IndexerStandIn()
        let releases = [
            ("Pride and Prejudice [broken]", indexer.serve("bad", .torrent(try bad.data))),
            ("Pride and Prejudice", indexer.serve("good", .torrent(try good.data))),
        ]
        let qbittorrent = try await QBittorrentDaemon()
        let transmission = try await TransmissionDaemon()
        let pipeline: DownloadPipeline
        let request: String
        let downloads: String
        // Transmission never dials loopback peers (download-clients.md, P1):
        // it announces before the seeder joins, and the seeder dials it.
        switch client {
        case .qbittorrent:
            for book in [bad, good] {
                try await transmission.add(book, downloadDir: book.parent)
                try await RealTransferTests.waitForAnnounce(transmission, book.infoHash)
            }
            try await qbittorrent.call("transfer/setDownloadLimit", form: [("limit", String(RealTransferTests.limitBytesPerSecond))])
            downloads = qbittorrent.downloads
            pipeline = try await DownloadPipeline(
                plugin: "libDownloadQBittorrent.so",
                config: """
                    url: "\(qbittorrent.url)", username: admin, password: "\(qbittorrent.password)", \
                    save_path: "\(downloads)", indexer_api_key: \(indexer.apiKey), indexer_url: "\(indexer.url)"
                    """)
            request = try await pipeline.request()
            try await pipeline.download(request: request, releases: releases)
        case .transmission:
            try await transmission.rpc(
                "session-set",
                ["speed-limit-down": .int(Int64(RealTransferTests.limitBytesPerSecond / 1000)), "speed-limit-down-enabled": true])
            downloads = transmission.directory.path + "/downloads"
            pipeline = try await DownloadPipeline(
                plugin: "libDownloadTransmission.so",
                config: """
                    url: "\(transmission.url)", username: tuser, password: "\(transmission.password)", \
                    save_path: "\(downloads)", indexer_api_key: \(indexer.apiKey), indexer_url: "\(indexer.url)"
                    """)
            request = try await pipeline.request()
            try await pipeline.download(request: request, releases: releases)
            try await eventually("Transmission has the first release", every: .milliseconds(100)) {
                try await transmission.torrent(bad.infoHash, fields: ["name"]) != nil
            }
            try await RealTransferTests.waitForAnnounce(transmission, bad.infoHash)
            try await qbittorrent.add(bad, savePath: bad.parent)
        }

        try await eventually("the first release is under way", timeout: .seconds(60), every: .milliseconds(100)) {
            let progress =
                switch client {
                case .qbittorrent: try await qbittorrent.info(bad.infoHash)?["progress"]?.doubleValue
                case .transmission: try await transmission.torrent(bad.infoHash, fields: ["percentDone"])?["percentDone"]?.doubleValue
                }
            return (progress ?? 0) > 0.05 && (progress ?? 1) < 0.8
        }
        let folder = downloads + "/" + bad.name
        switch client {
        case .qbittorrent:
            try await qbittorrent.stop()
            try FileManager.default.removeItem(atPath: folder)
            try await qbittorrent.start()
            try await eventually("qBittorrent reports missingFiles", timeout: .seconds(30), every: .milliseconds(100)) {
                // The host may have removed it already.
                let state = try await qbittorrent.info(bad.infoHash)?["state"]?.stringValue
                return state == nil || state == "missingFiles"
            }
        case .transmission:
            try await transmission.rpc("torrent-stop", ["ids": [.string(bad.infoHash)]])
            try await eventually("Transmission stopped it", every: .milliseconds(50)) {
                try await transmission.torrent(bad.infoHash, fields: ["status"])?["status"]?.intValue == 0
            }
            try FileManager.default.removeItem(atPath: folder)
            try await transmission.rpc("torrent-start", ["ids": [.string(bad.infoHash)]])
            // The seeder for the next release joins once Transmission has it and has announced.
            try await eventually("Transmission has the next release", timeout: .seconds(60), every: .milliseconds(100)) {
                try await transmission.torrent(good.infoHash, fields: ["name"]) != nil
            }
            try await RealTransferTests.waitForAnnounce(transmission, good.infoHash)
            try await qbittorrent.add(good, savePath: good.parent)
        }

        // Two monitor jobs in all now (the failed download's, done, and the
        // next one's): waitForOrganize's one-monitor rule does not hold here.
        try await eventually("the next release downloaded", timeout: .seconds(120), every: .milliseconds(100)) {
            let row = try await pipeline.requestRow(request)
            guard row.status != "failed" else { throw TestFailure("the request failed: \(row.reason ?? "")") }
            return try await !pipeline.organizeJobs().isEmpty
        }
        let organize = try JSONDecoder().decode(JSONValue.self, from: Data(try await pipeline.organizeJobs()[0].utf8))
        #expect(organize["download_path"]?.stringValue == downloads + "/" + good.name)
        try RealTransferTests.expectSameFiles(good, in: downloads)
        // The failed one: out of the client, its data gone, blocklisted with the client's reason.
        switch client {
        case .qbittorrent: #expect(try await qbittorrent.info(bad.infoHash) == nil)
        case .transmission: #expect(try await transmission.torrent(bad.infoHash, fields: ["name"]) == nil)
        }
        #expect(!FileManager.default.fileExists(atPath: folder))
        let blocked = try await pipeline.ledger.blocklist(request: request)
        #expect(blocked.map(\.releaseTitle) == ["Pride and Prejudice [broken]"] && blocked.first?.releaseID == bad.infoHash, "\(blocked)")
        let reason = blocked.first?.reason ?? ""
        #expect(client == .qbittorrent ? reason.contains("missingFiles") : reason.contains("No data found"), "\(reason)")
        let history = try await pipeline.postgres.query(
            "SELECT client_id, status FROM download_history WHERE request_id = $1 ORDER BY id", [request]).rows
        #expect(history == [[bad.infoHash, "failed"], [good.infoHash, "completed"]], "\(history)")
        try await pipeline.stop()
        withExtendedLifetime((tracker, directory, indexer)) {}
    }
}
