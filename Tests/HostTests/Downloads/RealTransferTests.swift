import Foundation
import PipelineHost
import PipelineJSON
import Testing

/// Real transfers on loopback between qBittorrent and Transmission, through
/// a real tracker, watched by the monitor from below 100 % to done.
///
/// Transmission never dials loopback peers (download-clients.md, P1), so the
/// seeder must learn of a downloading Transmission from the tracker and dial
/// it: Transmission is in the swarm and has announced before the seeder joins.
@Suite struct RealTransferTests {
    /// A bit over a megabyte, downloaded at 100 kB/s: twelve seconds or so of
    /// progress for the monitor to follow, even when a loaded machine (the
    /// whole suite runs in parallel) delays its polls.
    static let sizes = [400_000, 400_000, 400_000]
    static let limitBytesPerSecond = 100_000

    static func expectSteppedProgress(_ percents: [Int]) {
        #expect(percents.last == 100, "\(percents)")
        #expect(zip(percents, percents.dropFirst()).allSatisfy { $0 < $1 }, "each step once, in order: \(percents)")
        #expect(percents.allSatisfy { $0 < 5 || $0 % 5 == 0 }, "whole percents below 5, then every 5: \(percents)")
        #expect(percents.filter { $0 > 0 && $0 < 100 }.count >= 3, "followed from below 100 %: \(percents)")
    }

    static func expectSameFiles(_ fixture: TorrentFixture, in directory: String) throws {
        let source = fixture.parent + "/" + fixture.name
        for file in try FileManager.default.contentsOfDirectory(atPath: source) {
            let copy = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + fixture.name + "/" + file))
            #expect(copy == (try Data(contentsOf: URL(fileURLWithPath: source + "/" + file))), "\(file)")
        }
    }

    static func waitForAnnounce(_ transmission: TransmissionDaemon, _ hash: String) async throws {
        try await eventually("Transmission announced", every: .milliseconds(100)) {
            let torrent = try await transmission.torrent(hash, fields: ["trackerStats"])
            return torrent?["trackerStats"]?.arrayValue?.first?["lastAnnounceSucceeded"]?.boolValue == true
        }
    }

    /// Transmission seeding a book to a rate-limited qBittorrent, and a host
    /// running the qBittorrent plugin that was just asked to download it.
    struct QBittorrentDownload {
        let tracker: OpenTracker
        let directory: TemporaryDirectory
        let fixture: TorrentFixture
        let seeder: TransmissionDaemon
        let downloader: QBittorrentDaemon
        let indexer: IndexerStandIn
        let pipeline: DownloadPipeline
        let request: String

        static func start() async throws -> QBittorrentDownload {
            let tracker = try await OpenTracker()
            let directory = try TemporaryDirectory()
            let fixture = try await TorrentFixture(in: directory, sizes: RealTransferTests.sizes, tracker: tracker.announce)
            try tracker.allow(fixture.infoHash)
            let seeder = try await TransmissionDaemon()
            try await seeder.add(fixture, downloadDir: fixture.parent)
            try await RealTransferTests.waitForAnnounce(seeder, fixture.infoHash)
            let downloader = try await QBittorrentDaemon()
            try await downloader.call("transfer/setDownloadLimit", form: [("limit", String(RealTransferTests.limitBytesPerSecond))])
            let indexer = try await IndexerStandIn()
            let pipeline = try await DownloadPipeline(
                plugin: "libDownloadQBittorrent.so",
                config: """
                    url: "\(downloader.url)", username: admin, password: "\(downloader.password)", \
                    save_path: "\(downloader.downloads)", indexer_api_key: \(indexer.apiKey), indexer_url: "\(indexer.url)"
                    """)
            let request = try await pipeline.request()
            try await pipeline.download(
                request: request, releases: [("Pride and Prejudice", indexer.serve("book", .torrent(try fixture.data)))])
            return QBittorrentDownload(
                tracker: tracker, directory: directory, fixture: fixture, seeder: seeder, downloader: downloader,
                indexer: indexer, pipeline: pipeline, request: request)
        }
    }

    @Test func transmissionSeedsAndQBittorrentDownloads() async throws {
        let swarm = try await QBittorrentDownload.start()
        let (fixture, downloader, pipeline, request) = (swarm.fixture, swarm.downloader, swarm.pipeline, swarm.request)
        try await pipeline.waitForOrganize(request: request)

        Self.expectSteppedProgress(try await pipeline.loggedPercents())
        let organize = try JSONDecoder().decode(JSONValue.self, from: Data(try await pipeline.organizeJobs()[0].utf8))
        #expect(organize["download_path"]?.stringValue == downloader.downloads + "/" + fixture.name)
        #expect(try await pipeline.requestRow(request).progress == 100)
        #expect(Set(try await pipeline.events("monitor_download").map(\.job)).count == 1, "one monitor job throughout")
        try Self.expectSameFiles(fixture, in: downloader.downloads)
        try await pipeline.stop()
        withExtendedLifetime(swarm) {}
    }

    @Test func qBittorrentSeedsAndTransmissionDownloads() async throws {
        let tracker = try await OpenTracker()
        let directory = try TemporaryDirectory()
        let fixture = try await TorrentFixture(in: directory, sizes: Self.sizes, tracker: tracker.announce)
        try tracker.allow(fixture.infoHash)
        let downloader = try await TransmissionDaemon()
        try await downloader.rpc(
            "session-set", ["speed-limit-down": .int(Int64(Self.limitBytesPerSecond / 1000)), "speed-limit-down-enabled": true])
        let downloads = downloader.directory.path + "/downloads"
        let indexer = try await IndexerStandIn()
        let pipeline = try await DownloadPipeline(
            plugin: "libDownloadTransmission.so",
            config: """
                url: "\(downloader.url)", username: tuser, password: "\(downloader.password)", \
                save_path: "\(downloads)", indexer_api_key: \(indexer.apiKey), indexer_url: "\(indexer.url)"
                """)
        let request = try await pipeline.request()
        try await pipeline.download(
            request: request, releases: [("Pride and Prejudice", indexer.serve("book", .torrent(try fixture.data)))])
        try await eventually("Transmission has the torrent", every: .milliseconds(100)) {
            try await downloader.torrent(fixture.infoHash, fields: ["name"]) != nil
        }
        try await Self.waitForAnnounce(downloader, fixture.infoHash)
        let seeder = try await QBittorrentDaemon()
        try await seeder.add(fixture, savePath: fixture.parent)
        try await pipeline.waitForOrganize(request: request)

        Self.expectSteppedProgress(try await pipeline.loggedPercents())
        let organize = try JSONDecoder().decode(JSONValue.self, from: Data(try await pipeline.organizeJobs()[0].utf8))
        #expect(organize["download_path"]?.stringValue == downloads + "/" + fixture.name)
        #expect(Set(try await pipeline.events("monitor_download").map(\.job)).count == 1, "one monitor job throughout")
        try Self.expectSameFiles(fixture, in: downloads)
        try await pipeline.stop()
    }

    @Test func theClientStoppedMidDownloadLeavesTheRequestDownloadingAndTheMonitorCompletesAfterItReturns() async throws {
        let swarm = try await QBittorrentDownload.start()
        let (fixture, downloader, pipeline, request) = (swarm.fixture, swarm.downloader, swarm.pipeline, swarm.request)
        try await eventually("the download under way", timeout: .seconds(60), every: .milliseconds(100)) {
            let progress = try await pipeline.requestRow(request).progress
            return progress >= 10 && progress < 90
        }
        try await downloader.stop()
        try await eventually("the monitor backed off twice", every: .milliseconds(100)) {
            try await pipeline.events("monitor_download").filter { $0.message.contains("could not be reached") }.count >= 2
        }
        let away = try await pipeline.requestRow(request)
        #expect(away.status == "downloading")
        #expect(away.progress < 100)
        let warnings = try await pipeline.events("monitor_download").filter { $0.message.contains("could not be reached") }
        #expect(warnings[0].message.contains("(1 of 30); next poll in 500 ms"), "\(warnings[0].message)")
        #expect(warnings[1].message.contains("(2 of 30); next poll in 1 s"), "\(warnings[1].message)")
        try await downloader.start()
        try await pipeline.waitForOrganize(request: request)
        let done = try await pipeline.requestRow(request)
        #expect(done.status == "downloading" && done.progress == 100)
        #expect(Set(try await pipeline.events("monitor_download").map(\.job)).count == 1)
        try Self.expectSameFiles(fixture, in: downloader.downloads)
        try await pipeline.stop()
        withExtendedLifetime(swarm) {}
    }
}
