import Foundation
import Glibc
import PipelineHost
import Testing

/// `organize_files` run by a host: the request's statuses around an import.
@Suite struct OrganizeFilesJobTests {
    @Test func aFinishedDownloadEndsInTheLibraryAndTheRequestIsDownloaded() async throws {
        let qbittorrent = try await QBittorrentDaemon()
        let directory = try TemporaryDirectory()
        let library = directory.path + "/library"
        try FileManager.default.createDirectory(atPath: library, withIntermediateDirectories: true)
        let fixture = try await TorrentFixture(in: directory, sizes: [120_000, 80_000], tracker: "http://127.0.0.1:9/announce")
        let indexer = try await IndexerStandIn()
        let pipeline = try await DownloadPipeline(
            plugin: "libDownloadQBittorrent.so",
            config: """
                url: "\(qbittorrent.url)", username: admin, password: "\(qbittorrent.password)", \
                save_path: "\(fixture.parent)", indexer_api_key: \(indexer.apiKey), indexer_url: "\(indexer.url)"
                """, organizeConcurrency: 1, library: library)
        let request = try await pipeline.request()
        try await pipeline.download(
            request: request, releases: [("Pride and Prejudice", indexer.serve("book", .torrent(try fixture.data)))])
        try await eventually("request downloaded", timeout: .seconds(60), every: .milliseconds(100)) {
            let row = try await pipeline.requestRow(request)
            guard row.status != "failed" else { throw TestFailure("failed: \(row.reason ?? "")") }
            return row.status == "downloaded"
        }
        let folder = library + "/Jane Austen/Pride and Prejudice"
        let names = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        #expect(names == ["01 - Chapter 1.mp3", "02 - Chapter 2.mp3"])
        // Hard-linked (the default): the seeding copy is the same file, untouched.
        var seeding = stat()
        var imported = stat()
        stat(fixture.parent + "/" + fixture.name + "/01 - Chapter 1.mp3", &seeding)
        stat(folder + "/01 - Chapter 1.mp3", &imported)
        #expect(seeding.st_ino == imported.st_ino)
        #expect(try await qbittorrent.info(fixture.infoHash)?["progress"]?.doubleValue == 1, "still seeding")
        try await pipeline.stop()
    }

    @Test func noAudioFilesRestsAtAwaitingImportThenWarnAfterTheLastAttempt() async throws {
        let directory = try TemporaryDirectory()
        let library = directory.path + "/library"
        let empty = directory.path + "/download"
        for path in [library, empty] { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        try directory.write("download/readme.nfo", "no audio here")
        let pipeline = try await DownloadPipeline(
            plugin: "libDownloadQBittorrent.so", config: #"url: "http://127.0.0.1:9""#, organizeConcurrency: 1,
            library: library, maxImportAttempts: 2)
        let request = try await pipeline.ledger.create(title: "Emma", author: "Jane Austen", status: .downloading).id
        let payload = #"{"request_id":"\#(request)","download_path":"\#(empty)","book":{"title":"Emma","author":"Jane Austen"}}"#
        _ = try await pipeline.runtime.enqueue("organize_files", payloadJSON: payload)
        try await eventually("awaiting_import", every: .milliseconds(50)) {
            try await pipeline.requestRow(request).status == "awaiting_import"
        }
        #expect(try await pipeline.requestRow(request).reason == "no audiobook files found in \(empty)")
        // The next attempt (retry_failed_imports' job, here by hand) is the last one allowed.
        _ = try await pipeline.runtime.enqueue("organize_files", payloadJSON: payload)
        try await eventually("warn", every: .milliseconds(50)) { try await pipeline.requestRow(request).status == "warn" }
        let reason = try await pipeline.requestRow(request).reason ?? ""
        #expect(reason.contains("gave up after 2 import attempts"), "\(reason)")
        #expect(try await pipeline.postgres.query("SELECT import_attempts FROM requests").rows == [["2"]])
        #expect(try FileManager.default.contentsOfDirectory(atPath: library).isEmpty)
        try await pipeline.stop()
    }
}
