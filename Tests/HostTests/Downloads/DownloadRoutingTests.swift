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

    static func start(_ redis: RedisServer, isolation: String, clients: String) async throws -> Host {
        let directory = try TemporaryDirectory()
        let prefix = "t\(UUID().uuidString.prefix(8).lowercased())"
        let file = try directory.write(
            "pipeline.yaml",
            """
            redis: {url: "\(redis.url)", prefix: \(prefix)}
            postgres: {enabled: false}
            queue: {drain_delay: 1s}
            plugins:
              torrents: {path: libFixtureDownloadClient.so, isolation: \(isolation), config: {label: torrents}}
              newsgroups: {path: libFixtureDownloadClient.so, isolation: \(isolation), config: {label: newsgroups}}
            download_clients:
            \(clients)
            jobs:
              download_torrent: {plugin: download_clients, attempts: 1}
              monitor_download: {plugin: download_clients, attempts: 1}
            """)
        let validated = try await PipelineValidator(
            loader: ConfigurationLoader(environment: [:], defaultPluginDirectory: ProductsDirectory.path), startsPlugins: false,
            logger: .silent
        ).validated(file: file)
        let runtime = try await PipelineRuntime.start(validated, hostID: "routing", logger: .testLogger)
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
}
