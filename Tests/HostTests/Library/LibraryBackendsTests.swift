import Foundation
import PipelineHost
import ServiceStandIns
import Testing

/// Plex and Audiobookshelf at once, through `library_backends`: a schedule's
/// or an import's library job runs on each backend, and a book in either
/// makes its request `available`. On a private Redis and PostgreSQL schema,
/// against the two stand-ins.
@Suite struct LibraryBackendsTests {
    @Test(arguments: ["process", "none"])
    func aBookInEitherLibraryMakesItsRequestAvailable(_ isolation: String) async throws {
        let redis = try RedisServer()
        let server = try await PostgresServer.start()
        let schema = "t_\(UUID().uuidString.prefix(8).lowercased())"
        let postgres = try server.client(schema: schema)
        let plex = try await PlexStandIn()
        let audiobookshelf = try await AudiobookshelfStandIn()
        plex.add(StandInBook(id: "p1", title: "Emma", author: "Jane Austen", addedAt: 1_700_000_000))
        audiobookshelf.add(StandInBook(id: "a1", title: "Persuasion", author: "Jane Austen", addedAt: 1_700_000_100))
        let directory = try TemporaryDirectory()
        let prefix = "t\(UUID().uuidString.prefix(8).lowercased())"
        let file = try directory.write(
            "pipeline.yaml",
            """
            redis: {url: "\(redis.url)", prefix: \(prefix)}
            postgres: {url: "\(server.url)", schema: \(schema)}
            queue: {drain_delay: 1s}
            plugins:
              plex: {path: \(plex.pluginFile), isolation: \(isolation), config: {\(plex.pluginConfig(extra: "scan_settle_seconds: 0.2"))}}
              shelf: {path: \(audiobookshelf.pluginFile), isolation: \(isolation), config: {\(audiobookshelf.pluginConfig(extra: "scan_settle_seconds: 0.2"))}}
            library_backends:
              - plugin: plex
              - plugin: shelf
            jobs:
              scan_library: {plugin: library_backends, attempts: 1}
              library_recently_added_check: {plugin: library_backends, attempts: 1}
            """)
        let validated = try await PipelineValidator(
            loader: ConfigurationLoader(environment: [:], defaultPluginDirectory: ProductsDirectory.path), startsPlugins: false,
            logger: .silent
        ).validated(file: file)
        let runtime = try await PipelineRuntime.start(validated, hostID: "libraries", logger: .testLogger)
        let running = Task { try await runtime.run() }
        try await eventually("schema ready") { (try? await postgres.query("SELECT count(*) FROM requests")) != nil }
        let ledger = RequestLedger(client: postgres)
        let emma = try await ledger.create(title: "Emma", author: "Jane Austen", status: .downloaded).id
        let persuasion = try await ledger.create(title: "Persuasion", author: "Jane Austen", status: .downloaded).id
        let unheard = try await ledger.create(title: "Lady Susan", author: "Jane Austen", status: .downloaded).id

        // One scan, as a schedule adds it: the host runs it on each backend.
        let scans = try #require(runtime.queues["scan_library"])
        let scan = try await runtime.enqueue("scan_library", payloadJSON: "{}")
        try await eventually("both requests available", timeout: .seconds(30)) {
            let first = try await ledger.request(emma)?.status
            let second = try await ledger.request(persuasion)?.status
            return first == .available && second == .available
        }
        #expect(try await ledger.request(unheard)?.status == .downloaded)
        #expect(try await scans.job(scan)?.returnValue == #"{"fanned_out":["plex","shelf"]}"#)
        for instance in ["plex", "shelf"] {
            let child = try #require(try await scans.job("fu-scan_library-\(scan)-\(instance)"))
            #expect(child.dataJSON == #"{"library_instance":"\#(instance)"}"#)
            try await eventually("\(instance)'s scan completed") { try await scans.job(child.id)?.state == .completed }
        }
        // Each library is kept under its instance's name: one complete scan
        // never removes the other's books.
        let items = try await postgres.query("SELECT backend, title FROM library_items ORDER BY backend").rows
        #expect(items == [["plex", "Emma"], ["shelf", "Persuasion"]])

        // An import's scan request reaches both servers; the check that
        // follows each stays on its own backend.
        audiobookshelf.add(StandInBook(id: "a2", title: "Lady Susan", author: "Jane Austen", addedAt: 1_700_000_200))
        _ = try await runtime.enqueue("scan_library", payloadJSON: #"{"refresh":true,"path":"/srv/audiobooks/Jane Austen/Lady Susan"}"#)
        try await eventually("Lady Susan available", timeout: .seconds(30)) { try await ledger.request(unheard)?.status == .available }
        #expect(plex.scansRequested == ["/srv/audiobooks/Jane Austen/Lady Susan"])
        #expect(audiobookshelf.scansRequested.count == 1, "Audiobookshelf scans its whole library: its API takes no path")
        let checks = try await postgres.query(
            "SELECT payload->>'library_instance' FROM jobs WHERE job_type = 'library_recently_added_check' ORDER BY 1").rows
        #expect(checks == [["plex"], ["shelf"]])

        runtime.beginStop()
        try await running.value
    }

    @Test func aJobForABackendNoLongerListedFailsSayingSo() {
        let router = LibraryRouter(backends: [LibraryBackendRoute(plugin: "plex")], jobTypes: ["scan_library"])
        #expect(router.route(jobType: "scan_library", payloadJSON: "{}") == .success(.each(["plex"])))
        #expect(router.route(jobType: "scan_library", payloadJSON: #"{"library_instance":"plex"}"#) == .success(.instance("plex")))
        #expect(router.route(jobType: "scan_library", payloadJSON: #"{"library_instance":"abs"}"#) == .failure(JobRouteRefusal(
            "this job is for library backend 'abs', which library_backends does not list: nothing to do (the other backends have jobs of their own)")))
        #expect(router.mark(libraryBackend: "plex", for: "home_plex") == "home_plex")
        #expect(router.mark(payloadJSON: #"{"refresh":true}"#, ofJobType: "scan_library", for: "plex") == #"{"library_instance":"plex","refresh":true}"#)
        #expect(router.mark(payloadJSON: "{}", ofJobType: "organize_files", for: "plex") == "{}")
    }
}
