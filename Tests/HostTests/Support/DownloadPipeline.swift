import Foundation
import PipelineHost

/// A host running one download-client plugin against a real client, with
/// Redis and PostgreSQL of the test's own: `download_torrent` and
/// `monitor_download` run; `organize_files` is configured with concurrency 0,
/// so the jobs the monitor hands on wait in Redis for the test to read.
final class DownloadPipeline: @unchecked Sendable {
    let redis: RedisServer
    let postgres: PostgresClient
    let ledger: RequestLedger
    let runtime: PipelineRuntime
    let directory: TemporaryDirectory
    private var running: Task<Void, any Error>?

    /// - Parameters:
    ///   - plugin: `libDownloadQBittorrent.so` or `libDownloadTransmission.so`.
    ///   - config: the plugin's config, as JSON (YAML flow) members; fast
    ///     polling settings are added unless given.
    /// - Parameters:
    ///   - organizeConcurrency: 0 keeps organize_files jobs waiting in Redis;
    ///     more runs them with the OrganizeFiles plugin into `library`.
    ///   - isolation: every plugin's `isolation` (`process`, the default, or `none`).
    ///   - cleanup: runs `cleanup_seeded_torrents` too (on demand: no schedule).
    init(
        plugin: String, config: String, downloadAttempts: Int = 2, downloadConcurrency: Int = 1,
        organizeConcurrency: Int = 0, library: String = "/nonexistent-library", maxImportAttempts: Int = 5,
        search: String? = nil, searchConcurrency: Int = 1, libraryBackend: (plugin: String, config: String)? = nil,
        libraryAttempts: Int = 1, organizerConfig: String = "", retries: Bool = false,
        importRoots: [String] = [FileManager.default.temporaryDirectory.path], pluginOptions: String = "",
        isolation: String = "process", cleanup: Bool = false
    ) async throws {
        redis = try RedisServer()
        directory = try TemporaryDirectory()
        let server = try await PostgresServer.start()
        let schema = "t_\(UUID().uuidString.prefix(8).lowercased())"
        postgres = try server.client(schema: schema)
        ledger = RequestLedger(client: postgres)
        let prefix = "t\(UUID().uuidString.prefix(8).lowercased())"
        let file = try directory.write(
            "pipeline.yaml",
            """
            redis: {url: "\(redis.url)", prefix: \(prefix)}
            postgres: {url: "\(server.url)", schema: \(schema)}
            queue: {drain_delay: 1s}
            plugins:
              client:
                path: \(plugin)
                isolation: \(isolation)
                \(pluginOptions)
                config: {poll_interval: 250ms, max_poll_interval: 1s, first_poll_delay: 100ms, request_timeout: 5s, \(config)}
              organizer: {path: libOrganizeFiles.so, isolation: \(isolation), config: {library_root: "\(library)", import_roots: [\(importRoots.map { "\"\($0)\"" }.joined(separator: ", "))], max_import_attempts: \(maxImportAttempts)\(organizerConfig.isEmpty ? "" : ", " + organizerConfig)}}
            \(search.map { "  search: {path: libSearchProwlarr.so, isolation: \(isolation), config: {\($0)}}" } ?? "")
            \(libraryBackend.map { "  backend: {path: \($0.plugin), isolation: \(isolation), config: {\($0.config)}}" } ?? "")
            jobs:
              download_torrent: {plugin: client, attempts: \(downloadAttempts), concurrency: \(downloadConcurrency), backoff: {type: fixed, delay: 200ms}}
              monitor_download: {plugin: client, concurrency: 2}
              organize_files: {plugin: organizer, concurrency: \(organizeConcurrency), attempts: 1}
            \(search == nil ? "" : "  search_indexers: {plugin: search, attempts: 2, concurrency: \(searchConcurrency), backoff: {type: fixed, delay: 100ms}}")
            \(search == nil || !retries ? "" : "  retry_missing_torrents: {plugin: search, attempts: 1}")
            \(!retries ? "" : "  retry_failed_imports: {plugin: organizer, attempts: 1}")
            \(!cleanup ? "" : "  cleanup_seeded_torrents: {plugin: client, attempts: 1}")
            \(libraryBackend == nil ? "" : "  scan_library: {plugin: backend, attempts: \(libraryAttempts), backoff: {type: fixed, delay: 100ms}}")
            \(libraryBackend == nil ? "" : "  library_recently_added_check: {plugin: backend, attempts: \(libraryAttempts), backoff: {type: fixed, delay: 100ms}}")
            """)
        let validated = try await PipelineValidator(
            loader: ConfigurationLoader(environment: [:], defaultPluginDirectory: ProductsDirectory.path), startsPlugins: false,
            logger: .silent
        ).validated(file: file)
        runtime = try await PipelineRuntime.start(validated, hostID: "download-test", logger: .testLogger)
        let runtime = runtime
        running = Task { try await runtime.run() }
        try await eventually("schema ready") { (try? await postgres.query("SELECT count(*) FROM requests")) != nil }
    }

    func stop() async throws {
        runtime.beginStop()
        try await running?.value
        running = nil
    }

    /// A request in `downloading`'s predecessor state, as the search leaves it.
    func request(title: String = "Pride and Prejudice", author: String = "Jane Austen") async throws -> String {
        try await ledger.create(title: title, author: author, status: .searching).id
    }

    /// Adds a download_torrent job for `request` with `releases` (the first chosen, the rest alternates).
    @discardableResult
    func download(request: String, releases: [(title: String, url: String)]) async throws -> String {
        func release(_ entry: (title: String, url: String)) -> String {
            let key = entry.url.hasPrefix("magnet:") ? "magnet_url" : "download_url"
            return #"{"title":\#(Self.quoted(entry.title)),"\#(key)":\#(Self.quoted(entry.url)),"protocol":"torrent"}"#
        }
        let alternates = releases.dropFirst().map(release).joined(separator: ",")
        let payload = #"{"request_id":"\#(request)","book":{"title":"Pride and Prejudice","author":"Jane Austen"},"release":\#(release(releases[0])),"alternates":[\#(alternates)]}"#
        return try await runtime.enqueue("download_torrent", payloadJSON: payload)
    }

    /// Adds a monitor_download job for a torrent already in the client.
    @discardableResult
    func monitor(request: String, client: String, infoHash: String) async throws -> String {
        try await runtime.enqueue(
            "monitor_download",
            payloadJSON: #"{"request_id":"\#(request)","client":"\#(client)","info_hash":"\#(infoHash)","release_title":"test"}"#)
    }

    static func quoted(_ text: String) -> String {
        String(decoding: try! JSONEncoder().encode(text), as: UTF8.self)
    }

    func requestRow(_ id: String) async throws -> (status: String, progress: Double, reason: String?) {
        let rows = try await postgres.query("SELECT status, progress, status_reason FROM requests WHERE id = $1", [id]).rows
        guard let row = rows.first else { throw TestFailure("no request \(id)") }
        return (row[0] ?? "", Double(row[1] ?? "") ?? -1, row[2])
    }

    /// The payloads of the organize_files jobs recorded so far.
    func organizeJobs() async throws -> [String] {
        try await postgres.query("SELECT payload::text FROM jobs WHERE job_type = 'organize_files' ORDER BY created_at").rows.map {
            $0[0] ?? ""
        }
    }

    /// Waits until the monitor hands the download to organize_files, checking
    /// all along that Redis holds one monitor job at most; fails at once if
    /// the request fails instead.
    func waitForOrganize(request: String, timeout: Duration = .seconds(90)) async throws {
        try await eventually("organize_files enqueued", timeout: timeout, every: .milliseconds(100)) {
            let monitors = try await monitorJobsInRedis()
            guard monitors <= 1 else { throw TestFailure("\(monitors) monitor_download jobs in Redis at once") }
            let row = try await requestRow(request)
            guard row.status != "failed" else { throw TestFailure("the request failed: \(row.reason ?? "")") }
            return try await !organizeJobs().isEmpty
        }
    }

    /// The percents of the monitor's progress lines, in order.
    func loggedPercents() async throws -> [Int] {
        try await events("monitor_download").compactMap { event in
            guard event.message.hasPrefix("downloading:"), let metadata = event.metadata,
                let object = try? JSONDecoder().decode([String: Int].self, from: Data(metadata.utf8))
            else { return nil }
            return object["percent"]
        }
    }

    /// The monitor_download jobs Redis holds, in any state.
    func monitorJobsInRedis() async throws -> Int {
        try await runtime.queues["monitor_download"]!.counts().values.reduce(0, +)
    }

    /// The job log of `jobType`, oldest first: (job id, level, message).
    func events(_ jobType: String) async throws -> [(job: String, level: String, message: String, metadata: String?)] {
        _ = await runtime.history?.flush()
        return try await postgres.query(
            "SELECT job_id, level, message, metadata::text FROM job_events WHERE job_type = $1 ORDER BY id", [jobType]
        ).rows.map { ($0[0] ?? "", $0[1] ?? "", $0[2] ?? "", $0[3]) }
    }

    /// The download_history rows: (client, client_id, status, save_path, error).
    func downloads(_ request: String) async throws -> [[String?]] {
        try await postgres.query(
            "SELECT client, client_id, status, save_path, error, release_title FROM download_history WHERE request_id = $1",
            [request]
        ).rows
    }
}
