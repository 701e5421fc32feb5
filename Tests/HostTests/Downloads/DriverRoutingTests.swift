import Foundation
import PipelineHost
import PipelineJSON
import ServiceStandIns
import Testing

/// Releases routed by protocol to drivers, whose download jobs the host
/// runs: a torrent driver and a usenet driver (memory fixtures in C, which
/// finish each download at once), an indexer serving the NZB.
@Suite struct DriverRoutingTests {
    /// A host running `file`, and the task that runs it.
    static func run(_ file: String, hostID: String) async throws -> (PipelineRuntime, Task<Void, any Error>) {
        let loader = ConfigurationLoader(environment: [:], defaultPluginDirectory: ProductsDirectory.path)
        let validated = try await PipelineValidator(loader: loader, startsPlugins: false, logger: .silent).validated(file: file)
        let runtime = try await PipelineRuntime.start(validated, hostID: hostID, logger: .testLogger)
        return (runtime, Task { try await runtime.run() })
    }

    @Test(arguments: ["process", "none"])
    func eachReleaseGoesToTheDriverOfItsProtocolAndTheUsenetOneGetsTheNZB(_ isolation: String) async throws {
        let redis = try RedisServer()
        let indexer = try await IndexerStandIn(requiresKey: false)
        let nzb = Data(#"<?xml version="1.0" encoding="UTF-8"?><nzb xmlns="http://www.newzbin.com/DTD/2003/nzb"><file subject="a"/></nzb>"#.utf8)
        let nzbURL = indexer.serve("book-nzb", .torrent(nzb))
        let directory = try TemporaryDirectory()
        let prefix = "t\(UUID().uuidString.prefix(8).lowercased())"
        let file = try directory.write(
            "pipeline.yaml",
            """
            redis: {url: "\(redis.url)", prefix: \(prefix)}
            postgres: {enabled: false}
            queue: {drain_delay: 1s}
            plugins:
              torrents: {path: libFixtureTorrentDriver.so, isolation: \(isolation), config: {complete_dir: /data/torrents}}
              newsgroups: {path: libFixtureUsenetDriver.so, isolation: \(isolation), config: {complete_dir: /data/usenet, first_poll_delay: 10ms}}
            download_clients:
              - {plugin: torrents}
              - {plugin: newsgroups, protocols: [usenet]}
            jobs:
              download_torrent: {plugin: download_clients, attempts: 1}
              monitor_download: {plugin: download_clients, attempts: 1}
            """)
        let (runtime, running) = try await Self.run(file, hostID: "driver-routing")
        let downloads = try #require(runtime.queues["download_torrent"])
        func result(_ id: String) async throws -> [String: JSONValue] {
            try await eventually("download \(id) ended", timeout: .seconds(30)) {
                let state = try await downloads.job(id)?.state
                if state == .failed { throw TestFailure("download \(id) failed: \(try await downloads.job(id)?.failedReason ?? "")") }
                return state == .completed
            }
            let text = try #require(try await downloads.job(id)?.returnValue)
            return try #require(JSONValue(jsonText: text)?.objectValue)
        }

        let hash = String(repeating: "ab", count: 20)
        let torrent = try await runtime.enqueue(
            "download_torrent", payloadJSON: #"{"release":{"title":"Emma","protocol":"torrent","magnet_url":"magnet:?xt=urn:btih:\#(hash)&dn=Emma"}}"#)
        let usenet = try await runtime.enqueue(
            "download_torrent", payloadJSON: #"{"release":{"title":"Persuasion","protocol":"usenet","download_url":"\#(nzbURL)"}}"#)
        #expect(try await result(torrent)["client"] == "fixture-torrent")
        #expect(try await result(torrent)["info_hash"] == .string(hash))
        let usenetResult = try await result(usenet)
        #expect(usenetResult["client"] == "fixture-usenet")
        #expect(usenetResult["info_hash"]?.stringValue?.hasPrefix("nzb-") == true, "the usenet driver's id for the NZB it was given")
        #expect(indexer.requested == ["book-nzb"], "the NZB was fetched from the indexer")

        // Each monitor follows its download's driver, which reports it complete.
        let monitors = try #require(runtime.queues["monitor_download"])
        try await eventually("both monitors ran", timeout: .seconds(30)) {
            try await monitors.counts()[.failed, default: 0] + monitors.counts()[.completed, default: 0] == 2
        }
        runtime.beginStop()
        try await running.value
    }

    @Test func aDriverListedForAProtocolItDoesNotTakeIsRefusedSayingWhatToWrite() async throws {
        let directory = try TemporaryDirectory()
        let file = try directory.write(
            "pipeline.yaml",
            """
            redis: {url: "redis://127.0.0.1:1"}
            postgres: {enabled: false}
            plugins:
              newsgroups: {path: libFixtureUsenetDriver.so, isolation: none}
            download_clients:
              - {plugin: newsgroups}
            jobs:
              download_torrent: {plugin: download_clients}
            """)
        let loader = ConfigurationLoader(environment: [:], defaultPluginDirectory: ProductsDirectory.path)
        let error = await #expect(throws: DiagnosticsError.self) {
            try await PipelineValidator(loader: loader, startsPlugins: false, logger: .silent).validated(file: file)
        }
        #expect(
            error?.description.contains(
                "download client 'newsgroups' is listed for torrent (protocols: [torrent], the default), and its driver (fixture-usenet) "
                    + "takes usenet: write protocols: [usenet]") == true, "\(String(describing: error))")
    }

    @Test(arguments: [true, false])
    func searchKeepsUsenetReleasesOnlyWhenAUsenetClientTakesNewDownloads(_ usenetClient: Bool) async throws {
        let redis = try RedisServer()
        let prowlarr = try await ProwlarrStandIn()
        prowlarr.add(title: "Andy Weir - Project Hail Mary (Unabridged) M4B", indexer: 12, size: 734_003_200, protocol: "usenet")
        let directory = try TemporaryDirectory()
        let prefix = "t\(UUID().uuidString.prefix(8).lowercased())"
        let newsgroups = usenetClient ? "  - {plugin: newsgroups, protocols: [usenet]}" : "  - {plugin: newsgroups, protocols: [usenet], accept_new: false}"
        let file = try directory.write(
            "pipeline.yaml",
            """
            redis: {url: "\(redis.url)", prefix: \(prefix)}
            postgres: {enabled: false}
            queue: {drain_delay: 1s}
            plugins:
              search: {path: libSearchProwlarr.so, config: {url: "\(prowlarr.url)", api_key: \(prowlarr.apiKey)}}
              torrents: {path: libFixtureTorrentDriver.so, isolation: none}
              newsgroups: {path: libFixtureUsenetDriver.so, isolation: none}
            download_clients:
              - {plugin: torrents}
            \(newsgroups)
            jobs:
              search_indexers: {plugin: search, attempts: 1}
              download_torrent: {plugin: download_clients, concurrency: 0}
              monitor_download: {plugin: download_clients, concurrency: 0}
            """)
        let (runtime, running) = try await Self.run(file, hostID: "usenet-search")
        let searches = try #require(runtime.queues["search_indexers"])
        let search = try await runtime.enqueue(
            "search_indexers", payloadJSON: #"{"book":{"title":"Project Hail Mary","author":"Andy Weir"}}"#)
        try await eventually("the search ended", timeout: .seconds(30)) { try await searches.job(search)?.state == .completed }
        let returned = try #require(try await searches.job(search)?.returnValue)
        let result = try #require(JSONValue(jsonText: returned))
        let downloads = try #require(runtime.queues["download_torrent"])
        if usenetClient {
            #expect(result["release"]?.stringValue == "Andy Weir - Project Hail Mary (Unabridged) M4B", "\(result)")
            let waiting = try await downloads.counts()[.waiting, default: 0]
            #expect(waiting == 1)
        } else {
            #expect(result["awaiting_search"]?.stringValue?.contains("none acceptable (1 usenet, blocklisted or without seeders)") == true, "\(result)")
            #expect(try await downloads.counts().values.reduce(0, +) == 0)
        }
        runtime.beginStop()
        try await running.value
    }
}
