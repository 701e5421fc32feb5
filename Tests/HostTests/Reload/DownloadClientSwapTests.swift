import Foundation
import PipelineHost
import PipelinePayloads
import ServiceStandIns
import Testing

/// The download client swapped on a running `pipeline-host run` process, on
/// real parts: a qBittorrent, and as the new client either a second
/// qBittorrent (two instances of the same plugin file, each with its own
/// config) or Deluge through the C driver; a Transmission seeding three books
/// on loopback, Prowlarr's and Plex's stand-ins.
///
/// The first qBittorrent holds two throttled downloads when pipeline.yaml is
/// edited to list the new client first and to mark the first
/// `accept_new: false`, and SIGHUP is sent. Both downloads finish on the first; a request added
/// after the reload downloads on the second; a reload that removes the first
/// is refused while it has downloads and accepted once it has none; no job
/// and no request fails.
@Suite struct DownloadClientSwapTests {
    static let books = ["Emma", "Persuasion", "Mansfield Park"]

    /// The client that takes the new downloads after the swap.
    struct NewClient: Sendable {
        /// Its plugin entry's `{path: …, config: {…}}`, without the jobs' settings.
        var entry: @Sendable (_ jobSettings: String) -> String
        var downloads: String
        /// Whether it has the torrent.
        var has: @Sendable (String) async throws -> Bool

        static func qBittorrent(_ daemon: QBittorrentDaemon) -> NewClient {
            NewClient(
                entry: { #"{path: libDownloadQBittorrent.so, config: {url: "\#(daemon.url)", username: admin, password: "\#(daemon.password)", save_path: "\#(daemon.downloads)", \#($0)}}"# },
                downloads: daemon.downloads, has: { try await daemon.info($0) != nil })
        }

        static func deluge(_ daemon: DelugeDaemon) -> NewClient {
            NewClient(
                entry: { #"{path: libDownloadDeluge.so, config: {url: "\#(daemon.url)", password: "\#(daemon.password)", save_path: "\#(daemon.downloadDirectory)", \#($0)}}"# },
                downloads: daemon.downloadDirectory, has: { try await daemon.torrentState(hash: $0) != nil })
        }
    }

    static func config(
        _ stores: HostProcessStores, prowlarr: ProwlarrStandIn, plex: PlexStandIn, first: QBittorrentDaemon,
        second: NewClient, clients: String, secondLoaded: Bool = true, firstLoaded: Bool = true
    ) -> String {
        let jobSettings =
            #"indexer_api_key: \#(prowlarr.apiKey), indexer_url: "\#(prowlarr.url)", poll_interval: 300ms, max_poll_interval: 1s, first_poll_delay: 100ms"#
        let firstEntry = NewClient.qBittorrent(first).entry(jobSettings)
        return """
            \(stores.storesYAML)
            queue: {drain_delay: 1s}
            plugins:
              search: {path: libSearchProwlarr.so, config: {url: "\(prowlarr.url)", api_key: \(prowlarr.apiKey)}}
            \(firstLoaded ? "  first_qbit: \(firstEntry)" : "")
            \(secondLoaded ? "  second_client: \(second.entry(jobSettings))" : "")
              organizer: {path: libOrganizeFiles.so, config: {library_root: "\(stores.library)", import_roots: ["\(first.downloads)", "\(second.downloads)"], mode: copy, scan_after_import: true}}
              library: {path: libLibraryPlex.so, config: {\(plex.pluginConfig(extra: "scan_settle_seconds: 0.3"))}}
            download_clients:
            \(clients)
            jobs:
              search_indexers: {plugin: search}
              download_torrent: {plugin: download_clients, concurrency: 2}
              monitor_download: {plugin: download_clients, concurrency: 4}
              organize_files: {plugin: organizer, timeout: 2m}
              scan_library: {plugin: library}
              library_recently_added_check: {plugin: library}
            """
    }

    @Test(arguments: ["qbittorrent", "deluge"])
    func theFirstClientFinishesItsDownloadsAndTheNewOneTakesTheNewOnes(_ newKind: String) async throws {
        let stores = try await HostProcessStores()
        let (postgres, directory) = (stores.postgres, stores.directory)
        let tracker = try await OpenTracker()
        let seeder = try await TransmissionDaemon()
        let prowlarr = try await ProwlarrStandIn()
        var fixtures: [String: TorrentFixture] = [:]
        for title in Self.books {
            let fixture = try await TorrentFixture(in: directory, name: "Jane Austen - \(title) [MP3]", sizes: [600_000, 600_000], tracker: tracker.announce)
            try tracker.allow(fixture.infoHash)
            try await seeder.add(fixture, downloadDir: fixture.parent)
            try await RealTransferTests.waitForAnnounce(seeder, fixture.infoHash)
            // Advertised above the size below which a release is a sample.
            prowlarr.add(title: "Jane Austen - \(title) (Unabridged) [MP3]", size: 24_000_000, seeders: 1, torrent: try fixture.data)
            fixtures[title] = fixture
        }
        let first = try await QBittorrentDaemon()
        let deluge = newKind == "deluge" ? try await DelugeDaemon() : nil
        let qBittorrent = newKind == "deluge" ? nil : try await QBittorrentDaemon()
        let second = deluge.map(NewClient.deluge) ?? NewClient.qBittorrent(qBittorrent!)
        // Slow enough that both downloads are in flight through the reloads.
        try await first.call("transfer/setDownloadLimit", form: [("limit", "20000")])
        let plex = try await PlexStandIn()
        plex.watch(folder: stores.library)

        func write(_ clients: String, firstLoaded: Bool = true, secondLoaded: Bool = true) throws -> String {
            try directory.write(
                "pipeline.yaml",
                Self.config(
                    stores, prowlarr: prowlarr, plex: plex, first: first, second: second, clients: clients,
                    secondLoaded: secondLoaded, firstLoaded: firstLoaded))
        }
        let file = try write("  - {plugin: first_qbit, protocols: [torrent]}", secondLoaded: false)
        let host = try HostProcess(config: file, hostID: "swap", directory: directory)
        try await stores.waitForSchema(host)
        let ledger = RequestLedger(client: postgres)
        let searches = try stores.queue("search_indexers")
        func submit(_ title: String) async throws -> String {
            let request = try await ledger.create(NewRequest(title: title, author: "Jane Austen"))
            let snapshot = try #require(try await ledger.snapshot(request.id))
            _ = try await searches.add(dataJSON: String(decoding: try JSONEncoder().encode(snapshot.searchPayload()), as: UTF8.self))
            return request.id
        }
        func instance(of request: String) async throws -> String? {
            try await postgres.query("SELECT client_instance FROM download_history WHERE request_id = $1", [request]).rows.first?.first ?? nil
        }
        func reloads(_ fragment: String) -> Int { host.output.components(separatedBy: fragment).count - 1 }

        // 1. Two downloads in flight on the first qBittorrent.
        let early = [try await submit("Emma"), try await submit("Persuasion")]
        for request in early {
            try await eventually("\(request) downloading on first_qbit", timeout: .seconds(60), every: .milliseconds(100)) {
                try await instance(of: request) == "first_qbit"
            }
        }

        // 2. The second listed first, the first taking nothing new: SIGHUP.
        _ = try write("  - {plugin: second_client}\n  - {plugin: first_qbit, accept_new: false}")
        host.child.signal(SIGHUP)
        try await eventually("reloaded", timeout: .seconds(30)) { reloads("configuration reloaded") == 1 }

        // 3. Removing the first while it has downloads is refused, saying how many and what to do.
        _ = try write("  - {plugin: second_client}", firstLoaded: false)
        host.child.signal(SIGHUP)
        try await eventually("the removal refused", timeout: .seconds(30)) { reloads("reload refused") == 1 }
        #expect(host.output.contains(
            "download client 'first_qbit' has 2 download job(s) in flight; removing it would lose them: keep it in download_clients with accept_new: false, and remove it once it is idle"))
        for request in early { #expect(try await ledger.request(request)?.status == .downloading) }

        // 4. A request added now downloads on the second.
        let late = try await submit("Mansfield Park")
        try await eventually("the new request on second_client", timeout: .seconds(60), every: .milliseconds(100)) {
            try await instance(of: late) == "second_client"
        }

        // 5. Every request becomes available: the early ones through the first.
        try await first.call("transfer/setDownloadLimit", form: [("limit", "0")])
        try await eventually("every request available", timeout: .seconds(120), every: .milliseconds(200)) {
            var statuses: [RequestStatus?] = []
            for request in early + [late] {
                let status = try await ledger.request(request)?.status
                if status == .failed || status == .warn { throw TestFailure("request \(request) ended \(String(describing: status))") }
                statuses.append(status)
            }
            return statuses.allSatisfy { $0 == .available }
        }
        for request in early { #expect(try await instance(of: request) == "first_qbit") }
        #expect(try await first.info(fixtures["Emma"]!.infoHash) != nil)
        #expect(try await first.info(fixtures["Persuasion"]!.infoHash) != nil)
        #expect(try await second.has(fixtures["Mansfield Park"]!.infoHash))
        #expect(try await first.info(fixtures["Mansfield Park"]!.infoHash) == nil)

        // 6. Idle now: the removal is accepted.
        try await eventually("no monitor left", timeout: .seconds(30)) {
            try await stores.queue("monitor_download").counts().filter { $0.key != .completed }.values.reduce(0, +) == 0
        }
        _ = try write("  - {plugin: second_client}", firstLoaded: false)
        host.child.signal(SIGHUP)
        try await eventually("the removal accepted", timeout: .seconds(30)) { reloads("configuration reloaded") == 2 }
        #expect(reloads("reload refused") == 1)

        // No job failed, on any attempt.
        let failures = try await postgres.query(
            "SELECT job_type, job_id, error_message FROM jobs WHERE status = 'failed' OR error_message IS NOT NULL").rows
        #expect(failures.isEmpty, "\(failures)")
        host.terminate()
        #expect(try await host.exitCode() == 0)
    }
}
