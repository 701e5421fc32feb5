import Foundation
import PipelineHost
import PipelineJSON
import Testing

/// Download jobs routed over `download_clients` in a running host: two
/// instances of one fixture client (each answering with its config's label),
/// one taking torrents and one usenet, on a private Redis.
@Suite struct DownloadRoutingTests {
    struct Host {
        let runtime: PipelineRuntime
        let running: Task<Void, any Error>
        let downloads: JobQueue
        let monitors: JobQueue

        /// The result of job `id` of `queue` once it has completed.
        func result(_ queue: JobQueue, _ id: String) async throws -> [String: JSONValue] {
            try await eventually("\(queue.name) \(id) completed") { try await queue.job(id)?.state == .completed }
            let text = try #require(try await queue.job(id)?.returnValue)
            return try #require(try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)).objectValue)
        }

        func stop() async throws {
            runtime.beginStop()
            try await running.value
        }
    }

    /// Without `newsgroups` in `clients`, its plugin entry goes too (a plugin
    /// outside the list may not claim the list's job types).
    static func config(_ redis: RedisServer, prefix: String, isolation: String, clients: String) -> String {
        let newsgroups = clients.contains("newsgroups")
            ? "  newsgroups: {path: libFixtureDownloadClient.so, isolation: \(isolation), config: {label: newsgroups}}" : ""
        return """
            redis: {url: "\(redis.url)", prefix: \(prefix)}
            postgres: {enabled: false}
            queue: {drain_delay: 1s}
            plugins:
              torrents: {path: libFixtureDownloadClient.so, isolation: \(isolation), config: {label: torrents}}
            \(newsgroups)
            download_clients:
            \(clients)
            jobs:
              download_torrent: {plugin: download_clients, attempts: 1}
              monitor_download: {plugin: download_clients, attempts: 1}
            """
    }

    static func start(_ redis: RedisServer, isolation: String, clients: String, directory: TemporaryDirectory? = nil) async throws -> Host {
        let directory = try directory ?? TemporaryDirectory()
        let prefix = "t\(UUID().uuidString.prefix(8).lowercased())"
        let file = try directory.write("pipeline.yaml", Self.config(redis, prefix: prefix, isolation: isolation, clients: clients))
        let loader = ConfigurationLoader(environment: [:], defaultPluginDirectory: ProductsDirectory.path)
        let validated = try await PipelineValidator(loader: loader, startsPlugins: false, logger: .silent).validated(file: file)
        let runtime = try await PipelineRuntime.start(
            validated, hostID: "routing", logger: .testLogger, reloadSource: ReloadSource(file: file, loader: loader))
        let running = Task { try await runtime.run() }
        return Host(
            runtime: runtime, running: running, downloads: try #require(runtime.queues["download_torrent"]),
            monitors: try #require(runtime.queues["monitor_download"]))
    }

    @Test(arguments: ["process", "none"])
    func eachReleaseGoesToTheClientOfItsProtocolAndItsMonitorFollows(_ isolation: String) async throws {
        let redis = try RedisServer()
        let host = try await Self.start(
            redis, isolation: isolation,
            clients: "  - {plugin: torrents, protocols: [torrent]}\n  - {plugin: newsgroups, protocols: [usenet]}")
        let torrent = try await host.runtime.enqueue("download_torrent", payloadJSON: #"{"release":{"title":"a","protocol":"torrent"}}"#)
        let usenet = try await host.runtime.enqueue("download_torrent", payloadJSON: #"{"release":{"title":"b","protocol":"usenet"}}"#)
        let mixed = try await host.runtime.enqueue(
            "download_torrent", payloadJSON: #"{"release":{"title":"c","protocol":"usenet"},"alternates":[{"title":"d","protocol":"torrent"}]}"#)

        #expect(try await host.result(host.downloads, torrent)["label"] == "torrents")
        #expect(try await host.result(host.downloads, usenet)["label"] == "newsgroups")
        // The instance is written into the job's data on its first run: a retry finds the same client.
        #expect(try await host.downloads.job(torrent)?.dataJSON.contains(#""client_instance":"torrents""#) == true)
        #expect(try await host.result(host.downloads, mixed)["label"] == "newsgroups", "the chosen release's protocol decides first")

        // Each monitor runs on the instance that took the download, and carries it.
        for (parent, label) in [(torrent, "torrents"), (usenet, "newsgroups")] {
            let monitor = "fu-download_torrent-\(parent)-0"
            let result = try await host.result(host.monitors, monitor)
            #expect(result["label"] == .string(label))
            #expect(result["payload"] == ["hash": .string("\(label)-\(parent)"), "client_instance": .string(label)])
        }
        try await host.stop()
    }

    @Test func aReleaseNoClientTakesFailsAloneSayingWhichProtocolLacksOne() async throws {
        let redis = try RedisServer()
        let host = try await Self.start(redis, isolation: "none", clients: "  - {plugin: torrents}\n  - {plugin: newsgroups, accept_new: false, protocols: [usenet]}")
        let usenet = try await host.runtime.enqueue("download_torrent", payloadJSON: #"{"release":{"title":"b","protocol":"usenet"}}"#)
        let torrent = try await host.runtime.enqueue("download_torrent", payloadJSON: #"{"release":{"title":"a"}}"#)
        try await eventually("the usenet download failed") { try await host.downloads.job(usenet)?.state == .failed }
        #expect(try await host.downloads.job(usenet)?.failedReason
            == "no download client takes new usenet downloads: list one under download_clients with protocols: [usenet] and accept_new: true")
        #expect(try await host.result(host.downloads, torrent)["label"] == "torrents")
        // A monitor already on the draining instance still runs there.
        let monitor = try await host.runtime.enqueue("monitor_download", payloadJSON: #"{"hash":"x","client_instance":"newsgroups"}"#)
        #expect(try await host.result(host.monitors, monitor)["label"] == "newsgroups")
        try await host.stop()
    }

    @Test func aClientIsRemovedOnlyOnceDrainedAndIdle() async throws {
        let redis = try RedisServer()
        let directory = try TemporaryDirectory()
        let host = try await Self.start(
            redis, isolation: "none", clients: "  - {plugin: torrents}\n  - {plugin: newsgroups, protocols: [usenet]}", directory: directory)
        let prefix = try #require(host.downloads.keyPrefix.split(separator: ":").first).description
        func reload(_ clients: String) async throws -> ReloadOutcome {
            _ = try directory.write("pipeline.yaml", Self.config(redis, prefix: prefix, isolation: "none", clients: clients))
            return await host.runtime.reload()
        }
        // Still taking new downloads: it is drained first.
        guard case .refused(let problems) = try await reload("  - {plugin: torrents}") else {
            Issue.record("removing a client that takes new downloads was accepted")
            return
        }
        #expect(problems == [
            "download client 'newsgroups' still takes new downloads: set accept_new: false for it and reload, then remove it once it is idle"
        ])
        // A monitor job waiting for it keeps it.
        #expect(try await reload("  - {plugin: torrents}\n  - {plugin: newsgroups, protocols: [usenet], accept_new: false}").isApplied)
        let waiting = try await host.monitors.add(dataJSON: #"{"hash":"x","client_instance":"newsgroups"}"#, options: JobOptions(delay: .seconds(60)))
        guard case .refused(let busy) = try await reload("  - {plugin: torrents}") else {
            Issue.record("removing a client with a download in flight was accepted")
            return
        }
        #expect(busy == [
            "download client 'newsgroups' has 1 download job(s) in flight; removing it would lose them: keep it in download_clients with accept_new: false, and remove it once it is idle"
        ])
        // Idle: removed.
        #expect(try await host.monitors.removeIfQueued(waiting))
        #expect(try await reload("  - {plugin: torrents}").isApplied)
        try await host.stop()
    }
}
