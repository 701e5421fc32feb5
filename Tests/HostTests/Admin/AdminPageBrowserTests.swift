import Foundation
import PipelineHost
import PluginHTTP
import ServiceStandIns
import Testing

/// The admin page in a real browser (headless Chromium through chromedriver)
/// against a running host with Redis, PostgreSQL and a Plex stand-in:
/// signing in, a request reaching `available` without a reload, a failed
/// job's event log, and "Trigger now". Screenshots of each step are saved
/// (their paths are printed). Without a session, nothing under /admin or
/// /api/admin can be read or changed.
@Suite struct AdminPageBrowserTests {
    static let token = "page-\(UUID().uuidString.prefix(12))"

    /// A host in this process with the admin API and page on a free port.
    struct Host {
        let runtime: PipelineRuntime
        let base: String
        let postgres: PostgresClient
        let plex: PlexStandIn
        let tasks: [Task<Void, any Error>]
        let keep: [AnyObject]

        static func start() async throws -> Host {
            let redis = try RedisServer()
            let server = try await PostgresServer.start()
            let schema = "t_\(UUID().uuidString.prefix(8).lowercased())"
            let directory = try TemporaryDirectory()
            let plex = try await PlexStandIn()
            let file = try directory.write(
                "pipeline.yaml",
                """
                redis: {url: "\(redis.url)", prefix: t\(UUID().uuidString.prefix(8).lowercased())}
                postgres: {url: "\(server.url)", schema: \(schema)}
                queue: {drain_delay: 1s}
                plugins:
                  library: {path: libLibraryPlex.so, config: {\(plex.pluginConfig())}}
                jobs:
                  scan_library: {plugin: library, attempts: 1}
                  library_recently_added_check: {plugin: library, attempts: 1, schedule: {every: 1h}}
                """)
            let validated = try await PipelineValidator(
                loader: ConfigurationLoader(environment: [:], defaultPluginDirectory: ProductsDirectory.path), startsPlugins: false,
                logger: .silent
            ).validated(file: file)
            let runtime = try await PipelineRuntime.start(validated, hostID: "page-host", logger: .testLogger)
            let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
            let app = AdminAPI(runtime: runtime, token: token).application(
                host: "127.0.0.1", port: 0, logger: .silent, onListening: { continuation.yield($0) })
            let running = Task { try await runtime.run() }
            let serving = Task { try await app.runService(gracefulShutdownSignals: []) }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            let postgres = try server.client(schema: schema)
            try await eventually("schedules written") {
                (try? await postgres.query("SELECT count(*) FROM scheduled_jobs").rows) == [["1"]]
            }
            return Host(
                runtime: runtime, base: "http://127.0.0.1:\(port)", postgres: postgres, plex: plex, tasks: [running, serving],
                keep: [redis, directory])
        }

        func stop() async throws {
            runtime.beginStop()
            tasks[1].cancel()
            try await tasks[0].value
        }
    }

    @Test func withoutSigningInNothingCanBeReadOrChanged() async throws {
        let host = try await Host.start()
        let http = HTTPClient(timeout: .seconds(10), followsRedirects: false)
        func send(_ method: String, _ path: String, body: String? = nil, headers: [String: String] = [:]) async throws -> HTTPResponse {
            try await http.send(
                HTTPRequest(
                    method: method, url: URL(string: host.base + path)!,
                    headers: headers.merging(["Content-Type": "application/x-www-form-urlencoded"]) { a, _ in a },
                    body: body.map { Data($0.utf8) }))
        }
        for path in ["/admin", "/admin/requests", "/admin/jobs?status=failed", "/admin/schedules", "/admin/queues", "/admin/blocklist", "/admin/static/admin.js"] {
            let read = try await send("GET", path)
            #expect(read.status == 303 && read.header("location")?.hasPrefix("/admin/login") == true, "\(path): \(read.status)")
            #expect(!read.text.contains("<table"), "\(path) shows nothing")
        }
        for path in [
            "/admin/schedules/library_recently_added_check/trigger", "/admin/schedules/library_recently_added_check/enabled",
            "/admin/blocklist/some-request/1/remove",
        ] {
            let change = try await send("POST", path, body: "enabled=false")
            #expect(change.status == 401, "\(path): \(change.status)")
        }
        #expect(try await send("GET", "/api/admin/jobs").status == 401)
        #expect(try await send("POST", "/api/admin/jobs/library_recently_added_check/trigger").status == 401)
        #expect(try await send("POST", "/api/admin/reload").status == 401)
        let wrong = try await send("POST", "/admin/login", body: "token=guess&next=%2Fadmin%2Fjobs")
        #expect(wrong.status == 401 && wrong.header("set-cookie") == nil)
        let schedule = try await host.postgres.query("SELECT enabled, last_run_at FROM scheduled_jobs").rows
        #expect(schedule == [["t", nil]], "nothing was triggered or disabled")

        // Signed in, a change still needs the session's form token and this host as its origin.
        let signedIn = try await send("POST", "/admin/login", body: "token=\(Self.token)")
        let cookie = try #require(signedIn.header("set-cookie")?.split(separator: ";").first.map(String.init))
        #expect(signedIn.header("set-cookie")?.contains("HttpOnly") == true && signedIn.header("set-cookie")?.contains("SameSite=Strict") == true)
        let noToken = try await send("POST", "/admin/schedules/library_recently_added_check/trigger", body: "", headers: ["Cookie": cookie])
        #expect(noToken.status == 403)
        let page = try await send("GET", "/admin/schedules", headers: ["Cookie": cookie])
        let csrf = try #require(page.text.firstMatch(of: /name="csrf" value="([0-9a-f]+)"/)?.1)
        let crossSite = try await send(
            "POST", "/admin/schedules/library_recently_added_check/trigger", body: "csrf=\(csrf)",
            headers: ["Cookie": cookie, "Origin": "http://evil.example"])
        #expect(crossSite.status == 403)
        #expect(try await host.postgres.query("SELECT last_run_at FROM scheduled_jobs").rows == [[nil]])
        try await host.stop()
    }

    @Test func anOperatorSignsInWatchesARequestBecomeAvailableReadsAFailedJobAndTriggersASchedule() async throws {
        let host = try await Host.start()
        let ledger = try #require(host.runtime.ledger)
        let emma = try await ledger.create(title: "Emma", author: "Jane Austen", status: .downloaded).id
        // A job that fails for good: Plex answers 500 once, and the job has one attempt.
        host.plex.faults.fail(status: 500, body: "Internal Server Error")
        let failed = try await host.runtime.enqueue("scan_library", payloadJSON: "{}")
        try await eventually("the scan failed") { try await host.runtime.queues["scan_library"]!.job(failed)?.state == .failed }

        let browser = try await HeadlessBrowser(name: "admin-page")
        // 1. Signing in.
        try await browser.open(host.base + "/admin/requests")
        try await eventually("sent to sign in") { try await browser.currentURL.contains("/admin/login") }
        try await browser.type("#token", "not the token")
        try await browser.click("#sign-in")
        #expect(try await browser.text("#error").contains("not the admin token"))
        try await browser.screenshot("sign-in-refused")
        try await browser.type("#token", Self.token)
        try await browser.click("#sign-in")
        try await eventually("signed in") { try await browser.currentURL.hasSuffix("/admin/requests") }

        // 2. The request becomes available while the page stays open: no reload.
        #expect(try await browser.text("#request-\(emma) .status") == "downloaded")
        try await browser.script("window.stayedOnPage = true;")
        try await browser.screenshot("request-downloaded")
        host.plex.add(StandInBook(id: "77", title: "Emma", author: "Jane Austen", addedAt: 1_800_000_000))
        _ = try await host.runtime.enqueue("library_recently_added_check", payloadJSON: "{}")
        try await eventually("the page shows it available", timeout: .seconds(20), every: .milliseconds(200)) {
            try await browser.text("#request-\(emma) .status") == "available"
        }
        #expect(try await browser.script("return window.stayedOnPage === true;") == .bool(true), "updated in place")
        try await browser.screenshot("request-available")

        // 3. A failed job's event log, found with the filters.
        try await browser.open(host.base + "/admin/jobs")
        try await browser.script("document.getElementById('filter-status').value = 'failed';")
        try await browser.click("form.filters button")
        try await eventually("filtered") { try await browser.currentURL.contains("status=failed") }
        try await browser.click("a.job")
        try await eventually("the job's page") { try await browser.currentURL.contains("/admin/jobs/scan_library/\(failed)") }
        let events = try await browser.text("#events")
        #expect(events.contains("ERROR") && events.contains("Plex answered 500"), "\(events)")
        #expect(try await browser.text("#error").contains("Plex answered 500"))
        try await browser.screenshot("failed-job-event-log")

        // 4. "Trigger now", and the new job appears.
        try await browser.open(host.base + "/admin/schedules")
        try await browser.click("#trigger-library_recently_added_check")
        let flash = try await browser.text("#flash")
        let triggered = try #require(flash.firstMatch(of: /job (\S+)/)?.1).description
        try await browser.screenshot("schedule-triggered")
        try await browser.open(host.base + "/admin/jobs?type=library_recently_added_check")
        try await eventually("the new job listed", timeout: .seconds(20), every: .milliseconds(200)) {
            try await browser.text("#jobs").contains("library_recently_added_check \(triggered)")
        }
        try await browser.screenshot("triggered-job-listed")

        // 5. The blocklist: a release refused for the book, and removing it.
        try await ledger.transition(
            emma, to: .available,
            update: RequestUpdate(detailsJSON: #"{"blocklist": {"release_title": "Jane Austen - Emma <script>alert(1)</script> [MP3]", "indexer": "MyAnonamouse", "reason": "missingFiles: the files are not where qBittorrent expects them"}}"#))
        let entry = try #require(try await ledger.blocklist(request: emma).first)
        try await browser.open(host.base + "/admin/requests")
        try await browser.click("#request-\(emma) a[href*='blocklist']")
        try await eventually("the request's blocklist") { try await browser.currentURL.contains("/admin/blocklist?request=\(emma)") }
        let row = try await browser.text("#blocked-\(entry.id)")
        #expect(row.contains("Jane Austen - Emma <script>alert(1)</script> [MP3]") && row.contains("missingFiles"), "shown as text: \(row)")
        try await browser.screenshot("blocklist")
        try await browser.click("#unblock-\(entry.id)")
        #expect(try await browser.text("#flash").contains("Removed entry \(entry.id)"))
        #expect(try await !browser.text("main").contains("Jane Austen - Emma <script>"))
        #expect(try await ledger.blocklist(request: emma).isEmpty)

        // 6. Signing out ends the session.
        try await browser.click("header form button")
        try await browser.open(host.base + "/admin/requests")
        try await eventually("sent to sign in again") { try await browser.currentURL.contains("/admin/login") }
        await browser.quit()
        try await host.stop()
    }
}
