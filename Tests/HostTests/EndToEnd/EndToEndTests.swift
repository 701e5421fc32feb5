import Foundation
import ServiceStandIns
import PipelineHost
import PipelineJSON
import Testing

/// The whole pipeline on real parts: a request is searched on a Prowlarr
/// stand-in that offers a real .torrent of a generated audiobook, seeded on
/// loopback through a real tracker; the host's download client (a real
/// qBittorrent or Transmission) fetches it, the monitor follows it, the
/// organizer puts it into the library, the library server's stand-in finds
/// it there after the scan the import asked for, and the request is
/// `available`. Each test covers one download client and one library
/// backend; together they cover both of each.
@Suite struct EndToEndTests {
    /// Two 12 MB chapters: above the 20 MB below which a release is a sample.
    static let sizes = [12_000_000, 12_000_000]

    /// The swarm, the stand-ins and the host of one test.
    struct World {
        let tracker: OpenTracker
        let directory: TemporaryDirectory
        let library: String
        let fixture: TorrentFixture
        let prowlarr: ProwlarrStandIn
        let server: any LibraryServerStandIn
        let pipeline: DownloadPipeline
        let daemons: [AnyObject]

        /// Waits until `request` is available, failing at once if it fails.
        func waitUntilAvailable(_ request: String) async throws {
            try await eventually("request available", timeout: .seconds(120), every: .milliseconds(200)) {
                let row = try await pipeline.requestRow(request)
                guard !["failed", "warn", "cancelled"].contains(row.status) else {
                    throw TestFailure("the request ended \(row.status): \(row.reason ?? "")")
                }
                return row.status == "available"
            }
        }

        /// What must hold once the request is available, whatever the parts.
        func expectTheBookOnceInTheLibrary(_ request: String) async throws {
            let folder = library + "/Jane Austen/Pride and Prejudice"
            let names = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
            #expect(names == ["01 - Chapter 1.mp3", "02 - Chapter 2.mp3"], "each file once, no temp file left")
            for (index, name) in names.enumerated() {
                let copy = try Data(contentsOf: URL(fileURLWithPath: folder + "/" + name))
                let seeded = try Data(
                    contentsOf: URL(fileURLWithPath: fixture.parent + "/" + fixture.name + String(format: "/%02d - Chapter %d.mp3", index + 1, index + 1)))
                #expect(copy == seeded, "\(name) arrived whole")
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: library) == ["Jane Austen"])
            let row = try await pipeline.requestRow(request)
            #expect(row.progress == 100)
            // Every stage ran, in order, for this request.
            let stages = try await pipeline.postgres.query(
                "SELECT job_type FROM jobs WHERE request_id = $1 OR job_type IN ('scan_library', 'library_recently_added_check') ORDER BY created_at",
                [request]
            ).rows.compactMap { $0[0] }
            let firsts = stages.reduce(into: [String]()) { seen, type in if !seen.contains(type) { seen.append(type) } }
            #expect(firsts == [
                "search_indexers", "download_torrent", "monitor_download", "organize_files", "scan_library",
                "library_recently_added_check",
            ], "\(stages)")
            let matched = try await pipeline.postgres.query(
                "SELECT title FROM library_items WHERE backend = $1", [server.backendName]
            ).rows
            #expect(matched == [["Pride and Prejudice"]])
            #expect(server.scansRequested.count == 1, "the import asked for one scan")
        }
    }

    static func world(client: String, server: any LibraryServerStandIn, isolation: String) async throws -> (World, String) {
        let tracker = try await OpenTracker()
        let directory = try TemporaryDirectory()
        let library = directory.path + "/library"
        try FileManager.default.createDirectory(atPath: library, withIntermediateDirectories: true)
        let fixture = try await TorrentFixture(in: directory, name: "Jane Austen - Pride and Prejudice [MP3]", sizes: sizes, tracker: tracker.announce)
        try tracker.allow(fixture.infoHash)
        let prowlarr = try await ProwlarrStandIn()
        prowlarr.add(
            title: "Jane Austen - Pride and Prejudice (Unabridged) [MP3]", size: Int64(fixture.totalBytes), seeders: 3,
            torrent: try fixture.data)
        prowlarr.add(title: "Pride and Prejudice and Zombies - Seth Grahame-Smith [M4B]", size: 300_000_000, seeders: 40)
        server.watch(folder: library)
        var daemons: [AnyObject] = []
        let clientConfig: String
        let seed: () async throws -> Void
        if client == "qbittorrent" {
            // Transmission seeds and is in the swarm first; qBittorrent dials it.
            let seeder = try await TransmissionDaemon()
            try await seeder.add(fixture, downloadDir: fixture.parent)
            try await RealTransferTests.waitForAnnounce(seeder, fixture.infoHash)
            let downloader = try await QBittorrentDaemon()
            daemons = [seeder, downloader]
            clientConfig = #"url: "\#(downloader.url)", username: admin, password: "\#(downloader.password)", save_path: "\#(downloader.downloads)", indexer_api_key: \#(prowlarr.apiKey), indexer_url: "\#(prowlarr.url)""#
            seed = {}
        } else {
            // Transmission never dials loopback peers: it joins first, then the seeder dials it.
            let downloader = try await TransmissionDaemon()
            daemons = [downloader]
            clientConfig = #"url: "\#(downloader.url)", username: tuser, password: "\#(downloader.password)", save_path: "\#(downloader.directory.path)/downloads", indexer_api_key: \#(prowlarr.apiKey), indexer_url: "\#(prowlarr.url)""#
            seed = {
                try await eventually("Transmission has the torrent", timeout: .seconds(60), every: .milliseconds(100)) {
                    try await downloader.torrent(fixture.infoHash, fields: ["name"]) != nil
                }
                try await RealTransferTests.waitForAnnounce(downloader, fixture.infoHash)
                let seeder = try await QBittorrentDaemon()
                try await seeder.add(fixture, savePath: fixture.parent)
                daemons.append(seeder)
            }
        }
        let pipeline = try await DownloadPipeline(
            plugin: client == "qbittorrent" ? "libDownloadQBittorrent.so" : "libDownloadTransmission.so", config: clientConfig,
            organizeConcurrency: 1, library: library,
            search: "url: \"\(prowlarr.url)\", api_key: \(prowlarr.apiKey)",
            libraryBackend: (server.pluginFile, server.pluginConfig(extra: "scan_settle_seconds: 0.3")),
            organizerConfig: "scan_after_import: true", isolation: isolation)
        let request = try await pipeline.runtime.submit(NewRequest(title: "Pride and Prejudice", author: "Jane Austen")).id
        try await seed()
        let world = World(
            tracker: tracker, directory: directory, library: library, fixture: fixture, prowlarr: prowlarr, server: server,
            pipeline: pipeline, daemons: daemons)
        return (world, request)
    }

    /// Every plugin in a runner of its own (the default), and every plugin in the host.
    static let isolations = ["process", "none"]

    @Test(arguments: isolations)
    func aRequestBecomesAvailableThroughQBittorrentAndPlex(_ isolation: String) async throws {
        let (world, request) = try await Self.world(client: "qbittorrent", server: try await PlexStandIn(), isolation: isolation)
        try await world.waitUntilAvailable(request)
        try await world.expectTheBookOnceInTheLibrary(request)
        #expect(world.server.scansRequested == [world.library + "/Jane Austen/Pride and Prejudice"], "Plex scans the book's folder")
        try await world.pipeline.stop()
    }

    @Test(arguments: isolations)
    func aRequestBecomesAvailableThroughTransmissionAndAudiobookshelf(_ isolation: String) async throws {
        let (world, request) = try await Self.world(client: "transmission", server: try await AudiobookshelfStandIn(), isolation: isolation)
        try await world.waitUntilAvailable(request)
        try await world.expectTheBookOnceInTheLibrary(request)
        try await world.pipeline.stop()
    }
}
