import Foundation
import PipelineHost
import PipelinePayloads
import ServiceStandIns
import Testing

/// Two `pipeline-host run` processes sharing Redis and PostgreSQL work
/// through 200 requests on real parts: every request reaches `available`,
/// both hosts take part, and no job ever runs on both at once (each attempt
/// of each job starts once, on one host).
///
/// The 200 releases the Prowlarr stand-in offers are one real torrent under
/// 200 titles, so the swarm stays small: the first download fetches it, the
/// rest find it in qBittorrent already; each is imported into its own book's
/// folder.
@Suite struct TwoHostDrillTests {
    static let requests = 200

    @Test func twoHostsWorkThrough200RequestsWithoutRunningAnyJobTwice() async throws {
        let stores = try await HostProcessStores()
        let (postgres, directory, library) = (stores.postgres, stores.directory, stores.library)
        let book = try await SeededBook(sizes: [11_000_000, 11_000_000], in: directory)
        let fixture = book.fixture
        let prowlarr = try await ProwlarrStandIn()
        let torrent = try fixture.data
        let titles = (1...Self.requests).map { String(format: "Drill Book %03d", $0) }
        for title in titles {
            prowlarr.add(title: "Drill Author - \(title) [MP3]", size: Int64(fixture.totalBytes), seeders: 1, torrent: torrent)
        }
        let plex = try await PlexStandIn()
        plex.watch(folder: library)

        let file = try directory.write(
            "pipeline.yaml",
            """
            \(stores.storesYAML)
            queue: {drain_delay: 1s}
            plugins:
              search: {path: libSearchProwlarr.so, config: {url: "\(prowlarr.url)", api_key: \(prowlarr.apiKey)}}
              client:
                path: libDownloadQBittorrent.so
                config: {\(book.clientConfig(indexerAPIKey: prowlarr.apiKey, indexerURL: prowlarr.url))}
              organizer: {path: libOrganizeFiles.so, config: {library_root: "\(library)", import_roots: ["\(book.client.downloads)"], scan_after_import: true}}
              library: {path: libLibraryPlex.so, config: {\(plex.pluginConfig(timeoutSeconds: 20, extra: "scan_settle_seconds: 0.3, recently_added: 30"))}}
            jobs:
              search_indexers: {plugin: search, concurrency: 4}
              download_torrent: {plugin: client, concurrency: 2}
              monitor_download: {plugin: client, concurrency: 8}
              organize_files: {plugin: organizer, concurrency: 2}
              scan_library: {plugin: library, concurrency: 1}
              library_recently_added_check: {plugin: library, concurrency: 1}
            """)
        let hosts = [
            try HostProcess(config: file, hostID: "north", directory: directory),
            try HostProcess(config: file, hostID: "south", directory: directory),
        ]
        try await stores.waitForSchema()
        let ledger = RequestLedger(client: postgres)
        let searches = try stores.queue("search_indexers")
        var ids: [String] = []
        for title in titles {
            let request = try await ledger.create(NewRequest(title: title, author: "Drill Author"))
            let payload = try #require(try await ledger.snapshot(request.id)).searchPayload()
            _ = try await searches.add(dataJSON: String(decoding: try JSONEncoder().encode(payload), as: UTF8.self))
            ids.append(request.id)
        }

        func statuses() async throws -> [String: Int] {
            let rows = try await postgres.query("SELECT status, count(*) FROM requests GROUP BY status").rows
            return Dictionary(uniqueKeysWithValues: rows.map { ($0[0] ?? "", Int($0[1] ?? "0") ?? 0) })
        }
        try await eventually("every request imported", timeout: .seconds(300), every: .milliseconds(500)) {
            let counts = try await statuses()
            if let stuck = counts.first(where: { ["failed", "warn", "awaiting_search", "awaiting_import"].contains($0.key) }) {
                let reasons = try await postgres.query(
                    "SELECT title, status_reason FROM requests WHERE status = $1 LIMIT 3", [stuck.key]).rows
                throw TestFailure("\(stuck.value) request(s) ended \(stuck.key): \(counts); \(reasons)")
            }
            return (counts["downloaded"] ?? 0) + (counts["available"] ?? 0) == Self.requests
        }
        // The recently-added checks find most; the scheduled full scan, run here once, finds the rest.
        _ = try await stores.queue("scan_library").add(dataJSON: "{}")
        try await eventually("every request available", timeout: .seconds(120), every: .milliseconds(500)) {
            try await statuses()["available"] == Self.requests
        }

        // Each book once in the library, whole.
        let authors = try FileManager.default.contentsOfDirectory(atPath: library)
        #expect(authors == ["Drill Author"])
        let folders = try FileManager.default.contentsOfDirectory(atPath: library + "/Drill Author").sorted()
        #expect(folders == titles, "\(folders.prefix(5))")
        for title in titles where folders.contains(title) {
            let names = try FileManager.default.contentsOfDirectory(atPath: library + "/Drill Author/" + title).sorted()
            #expect(names == ["01 - Chapter 1.mp3", "02 - Chapter 2.mp3"], "\(title): \(names)")
        }
        // Both hosts stop gracefully, writing the last of their history.
        for host in hosts { host.terminate() }
        for host in hosts { #expect(try await host.exitCode() == 0) }

        // No job ran on both hosts at once: every run of every job started once, and none failed.
        #expect(try await postgres.query("SELECT count(*) FROM jobs WHERE status = 'failed'").rows == [["0"]])
        let starts = try await postgres.query(
            """
            SELECT job_type, job_id, run, count(*) FROM job_events WHERE message LIKE 'attempt % started on %'
            GROUP BY job_type, job_id, run HAVING count(*) > 1
            """
        ).rows
        #expect(starts.isEmpty, "runs started twice: \(starts.prefix(5))")
        let retried = try await postgres.query(
            "SELECT job_type, count(*) FROM jobs WHERE job_type <> 'monitor_download' AND attempts > 1 GROUP BY job_type"
        ).rows
        #expect(retried.isEmpty, "no job needed a second attempt: \(retried)")
        let byHost = try await postgres.query(
            "SELECT host, count(*) FROM jobs WHERE job_type = 'organize_files' GROUP BY host ORDER BY host"
        ).rows
        #expect(byHost.count == 2 && byHost.allSatisfy { Int($0[1] ?? "0") ?? 0 > 0 }, "both hosts imported: \(byHost)")
        withExtendedLifetime((book, prowlarr, plex)) {}
    }
}
