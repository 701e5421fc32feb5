import Foundation
import PipelineHost
import PipelineJSON
import Testing

/// The two download-client plugins against real qbittorrent-nox and
/// transmission-daemon on loopback, run by a host with Redis and PostgreSQL.
@Suite struct DownloadClientTests {
    enum Client: String, CaseIterable, CustomTestStringConvertible {
        case qbittorrent, transmission

        var plugin: String { self == .qbittorrent ? "libDownloadQBittorrent.so" : "libDownloadTransmission.so" }
        var testDescription: String { rawValue }
    }

    /// A client of either kind, its URL and credentials.
    final class Daemon: @unchecked Sendable {
        let qbittorrent: QBittorrentDaemon?
        let transmission: TransmissionDaemon?

        init(_ client: Client) async throws {
            qbittorrent = client == .qbittorrent ? try await QBittorrentDaemon() : nil
            transmission = client == .transmission ? try await TransmissionDaemon() : nil
        }

        var url: String { qbittorrent?.url ?? transmission!.url }
        var username: String { qbittorrent?.username ?? transmission!.username }
        var password: String { qbittorrent?.password ?? transmission!.password }
        var downloads: String { qbittorrent?.downloads ?? transmission!.directory.path + "/downloads" }

        func config(password: String? = nil, extra: String = "") -> String {
            "url: \"\(url)\", username: \(username), password: \"\(password ?? self.password)\", category: audiobooks"
                + (extra.isEmpty ? "" : ", " + extra)
        }
    }

    /// Reads a request's state until `condition` holds.
    static func waitForRequest(
        _ pipeline: DownloadPipeline, _ id: String, _ what: String, timeout: Duration = .seconds(60),
        _ condition: @escaping ((status: String, progress: Double, reason: String?)) -> Bool
    ) async throws {
        try await eventually(what, timeout: timeout, every: .milliseconds(100)) {
            condition(try await pipeline.requestRow(id))
        }
    }

    @Test(arguments: Client.allCases)
    func dataAlreadyInPlaceReachesOneHundredAndHandsTheMappedLocalPathToOrganize(_ client: Client) async throws {
        let daemon = try await Daemon(client)
        let directory = try TemporaryDirectory()
        // No tracker answers there: the clients need none for data already in place.
        let fixture = try await TorrentFixture(in: directory, sizes: [200_000, 150_000], tracker: "http://127.0.0.1:9/announce")
        let indexer = try await IndexerStandIn()
        let busy = indexer.serve("busy", .status(503))
        let good = indexer.serve("good", .torrent(try fixture.data))
        let pipeline = try await DownloadPipeline(
            plugin: client.plugin,
            config: daemon.config(
                extra: """
                    save_path: "\(fixture.parent)", indexer_api_key: \(indexer.apiKey), indexer_url: "\(indexer.url)", \
                    path_mappings: [{remote: "\(fixture.parent)", local: "/library-view/incoming"}]
                    """))
        let request = try await pipeline.request()
        try await pipeline.download(request: request, releases: [("Busy release", busy), ("Pride and Prejudice", good)])

        try await pipeline.waitForOrganize(request: request)
        let organize = try JSONDecoder().decode(JSONValue.self, from: Data(try await pipeline.organizeJobs()[0].utf8))
        #expect(organize["download_path"]?.stringValue == "/library-view/incoming/\(fixture.name)")
        #expect(organize["info_hash"]?.stringValue == fixture.infoHash)
        #expect(organize["request_id"]?.stringValue == request)
        #expect(organize["book"]?["author"]?.stringValue == "Jane Austen")
        let row = try await pipeline.requestRow(request)
        #expect(row.status == "downloading", "organize_files moves it on, not the monitor")
        #expect(row.progress == 100)
        let downloads = try await pipeline.downloads(request)
        #expect(downloads.count == 1)
        #expect(downloads.first?[0...3] == [client.rawValue, fixture.infoHash, "completed", "/library-view/incoming/\(fixture.name)"])
        #expect(indexer.requested == ["busy", "good"], "the busy release was tried, then its alternate")
        let added = try await pipeline.events("download_torrent")
        #expect(added.contains { $0.message.contains("could not fetch the release; trying the next") && $0.message.contains("503") })
        #expect(added.contains { $0.message.contains("added 'Pride and Prejudice'") && $0.message.contains("alternate 1") })
        #expect(try await pipeline.postgres.query("SELECT count(*) FROM jobs WHERE job_type = 'monitor_download'").rows == [["1"]])
        let organizeQueue = try await pipeline.runtime.queues["organize_files"]!.counts()
        #expect(organizeQueue[.waiting] == 1, "concurrency 0: the job waits, no worker takes it: \(organizeQueue)")
        try await pipeline.stop()
    }

    @Test(arguments: Client.allCases)
    func aWrongPasswordFailsForGoodAtOnceNamingTheSettings(_ client: Client) async throws {
        let daemon = try await Daemon(client)
        let directory = try TemporaryDirectory()
        let fixture = try await TorrentFixture(in: directory, sizes: [50_000], tracker: "http://127.0.0.1:9/announce")
        let indexer = try await IndexerStandIn()
        let url = indexer.serve("book", .torrent(try fixture.data))
        let pipeline = try await DownloadPipeline(
            plugin: client.plugin,
            config: daemon.config(password: "not-the-password", extra: "indexer_api_key: \(indexer.apiKey), indexer_url: \"\(indexer.url)\""),
            downloadAttempts: 3)
        let request = try await pipeline.request()
        let job = try await pipeline.download(request: request, releases: [("Pride and Prejudice", url)])
        try await Self.waitForRequest(pipeline, request, "request failed") { $0.status == "failed" }
        let row = try await pipeline.requestRow(request)
        #expect(row.reason?.contains("fix username and password in this plugin's config") == true, "\(row.reason ?? "")")
        // The job's history row follows within the writer's batch interval.
        try await eventually("the job recorded failed", every: .milliseconds(50)) {
            try await pipeline.postgres.query(
                "SELECT status FROM jobs WHERE job_type = 'download_torrent' AND job_id = $1", [job]
            ).rows == [["failed"]]
        }
        let attempts = try await pipeline.postgres.query(
            "SELECT attempts FROM jobs WHERE job_type = 'download_torrent' AND job_id = $1", [job]
        ).rows
        #expect(attempts == [["1"]], "a permanent failure is not retried")
        #expect(try await pipeline.downloads(request).isEmpty)
        try await pipeline.stop()
    }

    @Test func manyJobsWithAWrongPasswordAtOnceNeverGetTheHostBanned() async throws {
        // qBittorrent's own default: an address is banned for an hour after five failed logins.
        let qbittorrent = try await QBittorrentDaemon(banAfterFailedLogins: 5)
        let directory = try TemporaryDirectory()
        let indexer = try await IndexerStandIn()
        let pipeline = try await DownloadPipeline(
            plugin: Client.qbittorrent.plugin,
            config: "url: \"\(qbittorrent.url)\", username: admin, password: wrong, indexer_api_key: \(indexer.apiKey), indexer_url: \"\(indexer.url)\"",
            downloadAttempts: 1, downloadConcurrency: 8)
        var requests: [String] = []
        for index in 0..<8 {
            let fixture = try await TorrentFixture(in: directory, sizes: [20_000], tracker: "http://127.0.0.1:9/announce")
            let request = try await pipeline.request(title: "Book \(index)")
            requests.append(request)
            try await pipeline.download(request: request, releases: [("Book \(index)", indexer.serve("b\(index)", .torrent(try fixture.data)))])
        }
        for request in requests {
            try await Self.waitForRequest(pipeline, request, "request \(request) failed") { $0.status == "failed" }
        }
        // The right password still gets in: the plugin tried the wrong one once.
        let answer = try await qbittorrent.call("app/version")
        #expect(answer.text.hasPrefix("v"))
        let log = try await qbittorrent.call("log/main?last_known_id=-1").text
        #expect(log.components(separatedBy: "login failure").count - 1 == 1, "one failed login in qBittorrent's log: \(log)")
        try await pipeline.stop()
    }

    @Test func aRequestCancelledWhileItsReleaseIsFetchedLeavesNoTorrentBehind() async throws {
        let daemon = try await Daemon(.qbittorrent)
        let directory = try TemporaryDirectory()
        let fixture = try await TorrentFixture(in: directory, sizes: [50_000], tracker: "http://127.0.0.1:9/announce")
        let indexer = try await IndexerStandIn()
        let pipeline = try await DownloadPipeline(
            plugin: Client.qbittorrent.plugin, config: daemon.config(extra: "indexer_api_key: \(indexer.apiKey), indexer_url: \"\(indexer.url)\""))
        let request = try await pipeline.request()
        let job = try await pipeline.download(
            request: request, releases: [("Pride and Prejudice", indexer.serve("book", .held(try fixture.data)))])
        try await eventually("the release is being fetched") { indexer.requested == ["book"] }
        try await pipeline.ledger.transition(request, to: .cancelled, reason: "cancelled by the user")
        indexer.release("book")
        try await eventually("the job done", every: .milliseconds(50)) {
            try await pipeline.runtime.queues["download_torrent"]!.job(job)?.state == .completed
        }
        let result = try await pipeline.runtime.queues["download_torrent"]!.job(job)?.returnValue ?? ""
        #expect(result.contains("skipped") && result.contains("the host refused"), "\(result)")
        // The job's log reaches PostgreSQL within the history writer's batch interval.
        try await eventually("the job's log written", every: .milliseconds(50)) {
            let events = try await pipeline.events("download_torrent").map(\.message)
            return events.contains { $0.contains("transition refused: the request was cancelled") }
                && events.contains { $0.contains("removed \(fixture.infoHash) from qBittorrent again") }
        }
        // qBittorrent lists a deleted torrent for a moment longer (its state lags the API by up to ~1.5 s).
        try await eventually("the torrent taken out again", every: .milliseconds(100)) {
            try await daemon.qbittorrent!.info(fixture.infoHash) == nil
        }
        #expect(try await pipeline.requestRow(request).status == "cancelled")
        #expect(try await pipeline.runtime.queues["monitor_download"]!.counts().values.reduce(0, +) == 0)
        try await pipeline.stop()
    }

    @Test func theKeyStaysWithTheIndexerAndAReleaseFallsBackToItsMagnet() async throws {
        let daemon = try await Daemon(.qbittorrent)
        let directory = try TemporaryDirectory()
        let redirected = try await TorrentFixture(in: directory, sizes: [30_000], tracker: "http://127.0.0.1:9/announce")
        let withMagnet = try await TorrentFixture(in: directory, sizes: [30_000], tracker: "http://127.0.0.1:9/announce")
        let indexer = try await IndexerStandIn()
        let tracker = try await IndexerStandIn(requiresKey: false)
        // The indexer redirects to a tracker's own download link: the key must not follow.
        let trackerURL = tracker.serve("t1", .torrent(try redirected.data))
        let pipeline = try await DownloadPipeline(
            plugin: Client.qbittorrent.plugin, config: daemon.config(extra: "indexer_api_key: \(indexer.apiKey), indexer_url: \"\(indexer.url)\""))
        let first = try await pipeline.request(title: "Redirected")
        try await pipeline.download(request: first, releases: [("Redirected", indexer.serve("r1", .redirect(trackerURL)))])
        // A release whose .torrent link is gone, with a magnet of its own.
        let second = try await pipeline.request(title: "Magnet")
        let payload = #"""
            {"request_id":"\#(second)","release":{"title":"Magnet","download_url":"\#(indexer.serve("gone", .status(404)))",
             "magnet_url":"magnet:?xt=urn:btih:\#(withMagnet.infoHash)&dn=Magnet"}}
            """#
        _ = try await pipeline.runtime.enqueue("download_torrent", payloadJSON: payload)
        // Prowlarr's magnetUrl is its own http link, answering with a redirect to the magnet URI.
        let proxied = try await TorrentFixture(in: directory, sizes: [30_000], tracker: "http://127.0.0.1:9/announce")
        let third = try await pipeline.request(title: "Proxied magnet")
        let proxy = indexer.serve("m1", .redirect("magnet:?xt=urn:btih:\(proxied.infoHash)&dn=Proxied"))
        _ = try await pipeline.runtime.enqueue(
            "download_torrent",
            payloadJSON: #"{"request_id":"\#(third)","release":{"title":"Proxied magnet","magnet_url":"\#(proxy)"}}"#)
        try await eventually("all three added", every: .milliseconds(100)) {
            let added = (
                try await pipeline.downloads(first).count, try await pipeline.downloads(second).count,
                try await pipeline.downloads(third).count
            )
            return added == (1, 1, 1)
        }
        #expect(try await pipeline.downloads(third).first?[1] == proxied.infoHash)
        #expect(indexer.keysReceived["r1"] == indexer.apiKey)
        #expect(tracker.requested == ["t1"])
        #expect(tracker.keysReceived["t1"] == nil, "the Prowlarr key went to another host: \(tracker.keysReceived)")
        #expect(try await pipeline.downloads(first).first?[1] == redirected.infoHash)
        #expect(try await pipeline.downloads(second).first?[1] == withMagnet.infoHash)
        try await eventually("added by its magnet", every: .milliseconds(100)) {
            try await daemon.qbittorrent!.info(withMagnet.infoHash) != nil
        }
        try await pipeline.stop()
    }

    @Test func anIndexerRefusingTheAPIKeyIsAPermanentFailureNamingTheSetting() async throws {
        let daemon = try await Daemon(.qbittorrent)
        let directory = try TemporaryDirectory()
        let fixture = try await TorrentFixture(in: directory, sizes: [50_000], tracker: "http://127.0.0.1:9/announce")
        let indexer = try await IndexerStandIn()
        let url = indexer.serve("book", .torrent(try fixture.data))
        let pipeline = try await DownloadPipeline(
            plugin: Client.qbittorrent.plugin, config: daemon.config(extra: "indexer_api_key: wrong-key, indexer_url: \"\(indexer.url)\""), downloadAttempts: 3)
        let request = try await pipeline.request()
        try await pipeline.download(request: request, releases: [("Pride and Prejudice", url)])
        try await Self.waitForRequest(pipeline, request, "request failed") { $0.status == "failed" }
        let reason = try await pipeline.requestRow(request).reason ?? ""
        #expect(reason.contains("indexer_api_key"), "\(reason)")
        #expect(reason.contains("401"))
        #expect(!reason.contains("wrong-key") && reason.contains("apikey=***"), "the key in the URL is not repeated: \(reason)")
        try await pipeline.stop()
    }

    @Test func aTorrentDeletedInTheClientFailsTheRequestAfterTheRetries() async throws {
        let daemon = try await Daemon(.transmission)
        let directory = try TemporaryDirectory()
        // No data anywhere and no tracker: the download stays at 0 %.
        let fixture = try await TorrentFixture(in: directory, sizes: [300_000], tracker: "http://127.0.0.1:9/announce")
        let indexer = try await IndexerStandIn()
        let url = indexer.serve("book", .torrent(try fixture.data))
        let pipeline = try await DownloadPipeline(
            plugin: Client.transmission.plugin, config: daemon.config(extra: "indexer_api_key: \(indexer.apiKey), indexer_url: \"\(indexer.url)\", missing_polls: 2"))
        let request = try await pipeline.request()
        try await pipeline.download(request: request, releases: [("Pride and Prejudice", url)])
        try await eventually("the monitor polled", every: .milliseconds(100)) {
            try await pipeline.events("monitor_download").contains { $0.message.hasPrefix("downloading: 0 %") }
        }
        try await daemon.transmission!.rpc("torrent-remove", ["ids": [.string(fixture.infoHash)], "delete-local-data": true])
        try await Self.waitForRequest(pipeline, request, "request failed") { $0.status == "failed" }
        let reason = try await pipeline.requestRow(request).reason ?? ""
        #expect(reason.contains("no longer in Transmission (not found in 2 polls in a row)"), "\(reason)")
        let events = try await pipeline.events("monitor_download")
        #expect(events.contains { $0.level == "warn" && $0.message.contains("not in Transmission (1 of 2)") })
        #expect(try await pipeline.downloads(request).map { [$0[2], $0[4]] } == [["failed", reason]])
        try await pipeline.stop()
    }

    @Test func aTrackerErrorInTransmissionIsNotADownloadError() async throws {
        let daemon = try await Daemon(.transmission)
        let transmission = daemon.transmission!
        // The tracker refuses a torrent it was not told about: Transmission
        // then reports error 2 ("tracker error") on a download that is fine.
        let tracker = try await OpenTracker()
        let directory = try TemporaryDirectory()
        let fixture = try await TorrentFixture(in: directory, sizes: [200_000, 100_000], tracker: tracker.announce)
        let empty = directory.path + "/empty"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        let indexer = try await IndexerStandIn()
        let pipeline = try await DownloadPipeline(
            plugin: Client.transmission.plugin,
            config: daemon.config(extra: "save_path: \"\(empty)\", indexer_api_key: \(indexer.apiKey), indexer_url: \"\(indexer.url)\""))
        let request = try await pipeline.request()
        try await pipeline.download(
            request: request, releases: [("Pride and Prejudice", indexer.serve("book", .torrent(try fixture.data)))])
        try await eventually("Transmission reports the tracker error", every: .milliseconds(100)) {
            try await transmission.torrent(fixture.infoHash, fields: ["error"])?["error"]?.intValue == 2
        }
        // The history lags Redis a little: wait for the monitor's row.
        var monitorRow: String?
        try await eventually("the monitor's history row") {
            monitorRow = try await pipeline.postgres.query("SELECT job_id FROM jobs WHERE job_type = 'monitor_download'").rows.first?[0] ?? nil
            return monitorRow != nil
        }
        let monitorID = try #require(monitorRow)
        func polls() async throws -> Int {
            let data = try await pipeline.runtime.queues["monitor_download"]!.job(monitorID)?.dataJSON ?? "{}"
            return Int(try JSONDecoder().decode(JSONValue.self, from: Data(data.utf8))["monitor"]?["stall_count"]?.intValue ?? 0)
        }
        let before = try await polls()
        try await eventually("two more polls", every: .milliseconds(100)) {
            let row = try await pipeline.requestRow(request)
            guard row.status == "downloading" else { throw TestFailure("the request moved to \(row.status): \(row.reason ?? "")") }
            return try await polls() >= before + 2
        }
        #expect(try await pipeline.requestRow(request).status == "downloading")
        // The data arrives; the download completes.
        try FileManager.default.copyItem(atPath: fixture.parent + "/" + fixture.name, toPath: empty + "/" + fixture.name)
        try await transmission.rpc("torrent-verify", ["ids": [.string(fixture.infoHash)]])
        try await pipeline.waitForOrganize(request: request)
        try await pipeline.stop()
        withExtendedLifetime((tracker, indexer)) {}
    }

    @Test func qBittorrentRestartedBetweenTwoPollsIsLoggedIntoAgain() async throws {
        let daemon = try await Daemon(.qbittorrent)
        let qbittorrent = daemon.qbittorrent!
        let directory = try TemporaryDirectory()
        let fixture = try await TorrentFixture(in: directory, sizes: [200_000], tracker: "http://127.0.0.1:9/announce")
        // Added paused, qBittorrent does not check the data: it sits at 0 %.
        try await qbittorrent.add(fixture, savePath: fixture.parent, paused: true)
        let pipeline = try await DownloadPipeline(plugin: Client.qbittorrent.plugin, config: daemon.config())
        let request = try await pipeline.ledger.create(title: "Pride and Prejudice", author: "Jane Austen", status: .downloading).id
        try await pipeline.monitor(request: request, client: "qbittorrent", infoHash: fixture.infoHash)
        try await eventually("the monitor polled with its session", every: .milliseconds(100)) {
            try await pipeline.events("monitor_download").contains { $0.message.hasPrefix("no progress at 0 %") }
        }
        try await qbittorrent.stop()
        try await qbittorrent.start()
        try await eventually("the torrent loaded again", every: .milliseconds(100)) {
            try await qbittorrent.info(fixture.infoHash) != nil
        }
        // The plugin's session cookie died with the old process; the next
        // polls must log in again, see the torrent resume and finish.
        try await qbittorrent.call("torrents/resume", form: [("hashes", fixture.infoHash)])
        try await pipeline.waitForOrganize(request: request)
        #expect(try await pipeline.requestRow(request).status == "downloading")
        let events = try await pipeline.events("monitor_download")
        #expect(!events.contains { $0.level == "error" }, "\(events.map(\.message))")
        #expect(Set(events.map(\.job)).count == 1)
        try await pipeline.stop()
    }
}

