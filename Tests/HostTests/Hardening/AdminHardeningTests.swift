import Foundation
import PipelineHost
import Testing

/// The admin server against links, connections and guesses meant to stop or
/// hold it, on a real `pipeline-host run`.
@Suite struct AdminHardeningTests {
    static let jobs = """
          work: {plugin: probe, concurrency: 1}
          other: {plugin: probe, concurrency: 1}
        """

    /// Hardening #2: a page number whose offset overflows crashed the host,
    /// through the API and through a link that survives sign-in.
    @Test func outOfRangePagingIsA400AndTheHostKeepsServing() async throws {
        let pipeline = try await HostedPipeline(jobs: Self.jobs)
        let huge = "200000000000000000"
        let logs = try await pipeline.api("GET", "/api/admin/logs?page=\(huge)")
        #expect(logs.status == 400 && logs.body.contains("page must be a whole number from 1 to 100000"), "\(logs.body)")
        for query in ["pageSize=0", "pageSize=201", "page=abc", "from=2026-13-45", "from=yesterday", "status=\(String(repeating: "x", count: 300))"] {
            let answer = try await pipeline.api("GET", "/api/admin/logs?\(query)")
            #expect(answer.status == 400, "\(query): \(answer.status) \(answer.body)")
        }
        // The crafted link survives sign-in: the page it leads to answers 400, and the host stays up.
        let (cookie, location) = try await pipeline.signIn(next: "/admin/jobs?page=\(huge)")
        #expect(location == "/admin/jobs?page=\(huge)")
        let page = try await rawRequest(port: pipeline.adminPort, "GET", location, headers: ["Cookie": cookie])
        #expect(page.status == 400 && page.body.contains("page must be a whole number"))
        // A next that leaves the admin is not followed.
        let (_, elsewhere) = try await pipeline.signIn(next: "//evil.example/admin/")
        #expect(elsewhere == "/admin/requests")
        #expect(await pipeline.isServing())
        try await pipeline.completesAJob(of: "work")
        try await pipeline.completesAJob(of: "other")
        let fine = try await pipeline.api("GET", "/api/admin/logs?page=2&pageSize=10")
        #expect(fine.status == 200)
        try await pipeline.stop()
    }

    /// Hardening #6: a connection that never finishes its request is closed
    /// after the idle timeout; the number of connections is capped; the
    /// `Host` header is checked against DNS rebinding.
    @Test func connectionsAreTimedOutCappedAndAnsweredOnlyUnderTheirOwnName() async throws {
        let pipeline = try await HostedPipeline(jobs: Self.jobs, admin: "idle_timeout: 1s, max_connections: 3")
        let port = pipeline.adminPort
        // Slowloris: half a request, then nothing. The server closes it.
        let closed = try await onOwnThread { () throws -> Bool in
            let connection = try RawConnection(port: port)
            try connection.send("GET /api/admin/logs HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            return connection.readUntilClosed(timeout: .seconds(10)).closed
        }
        #expect(closed, "a request that never ends is cut off")

        // The cap: three idle connections take every place; a fourth waits
        // until one of them goes.
        let answered = try await onOwnThread { () throws -> (whileFull: Bool, afterOneLeft: Bool) in
            var idle = try (0..<3).map { _ in try RawConnection(port: port) }
            // The three are accepted before the fourth asks (a request on each makes sure).
            for connection in idle { try connection.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") }
            for connection in idle { _ = connection.answers(within: .seconds(5)) }
            let fourth = try RawConnection(port: port)
            try fourth.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            let whileFull = fourth.answers(within: .milliseconds(400))
            idle.removeLast()
            return (whileFull, fourth.answers(within: .seconds(5)))
        }
        #expect(!answered.whileFull, "a fourth connection waits while three are open")
        #expect(answered.afterOneLeft, "and is served once one closes")

        let rebound = try await rawRequest(
            port: port, "GET", "/api/admin/logs", host: "attacker.example:\(port)", headers: ["Authorization": "Bearer \(pipeline.token)"])
        #expect(rebound.status == 421 && rebound.body.contains("admin.allowed_hosts"))
        let local = try await rawRequest(
            port: port, "GET", "/api/admin/logs", host: "localhost:\(port)", headers: ["Authorization": "Bearer \(pipeline.token)"])
        #expect(local.status == 200)
        #expect(try await rawRequest(port: port, "GET", "/healthz", host: "10.0.0.7:\(port)").status == 200, "probes may use any name")
        #expect(await pipeline.isServing())
        try await pipeline.completesAJob(of: "other")
        try await pipeline.stop()
    }

    /// Hardening #7: repeated wrong tokens from one address are slowed, then
    /// refused for a while; the session cookie is Secure behind https.
    @Test func guessingTheTokenIsSlowedThenRefused() async throws {
        let pipeline = try await HostedPipeline(jobs: Self.jobs)
        let port = pipeline.adminPort
        let started = ContinuousClock.now
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for guess in 0..<(21) {
                group.addTask {
                    try await rawRequest(port: port, "GET", "/api/admin/logs", headers: ["Authorization": "Bearer guess-\(guess)-0123456789"]).status
                }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(statuses.allSatisfy { $0 == 401 || $0 == 429 }, "\(statuses)")
        #expect(ContinuousClock.now - started >= .milliseconds(300), "wrong tokens are answered slowly")
        let locked = try await pipeline.api("GET", "/api/admin/logs")
        #expect(locked.status == 429 && locked.headers["retry-after"] != nil, "even the right token waits out the cool-down")

        let secure = try await rawRequest(
            port: port, "POST", "/admin/login",
            headers: ["Content-Type": "application/x-www-form-urlencoded", "X-Forwarded-Proto": "https"], body: "token=\(pipeline.token)")
        #expect(secure.status == 429, "the sign-in form shares the count")
        try await pipeline.stop()
    }

    @Test func theSessionCookieIsSecureBehindHTTPS() async throws {
        let pipeline = try await HostedPipeline(jobs: Self.jobs)
        let form = ["Content-Type": "application/x-www-form-urlencoded"]
        let proxied = try await rawRequest(
            port: pipeline.adminPort, "POST", "/admin/login", headers: form.merging(["X-Forwarded-Proto": "https"]) { a, _ in a },
            body: "token=\(pipeline.token)")
        #expect(proxied.status == 303 && proxied.headers["set-cookie"]?.contains("; Secure") == true, "\(proxied.headers)")
        let plain = try await rawRequest(port: pipeline.adminPort, "POST", "/admin/login", headers: form, body: "token=\(pipeline.token)")
        #expect(plain.status == 303 && plain.headers["set-cookie"]?.contains("Secure") == false)
        try await pipeline.stop()
    }

    @Test func shortTokensAreRefusedAndExposureIsWarnedAbout() throws {
        let directory = try TemporaryDirectory()
        let file = try directory.write("pipeline.yaml", "admin: {token: hunter2}\nplugins: {p: {path: libFixtureCEcho.so}}\njobs: {echo: {plugin: p}}\n")
        #expect(performing: { _ = try ConfigurationLoader(environment: [:], defaultPluginDirectory: ProductsDirectory.path).load(file: file) }, throws: { error in
            "\(error)".contains("admin.token is 7 characters; use at least 16") && "\(error)".contains("openssl rand -hex 24")
        })
        var open = AdminSettings(host: "0.0.0.0", port: 8089, token: String(repeating: "t", count: 20))
        let warnings = AdminAPI.startWarnings(open)
        #expect(warnings.count == 2 && warnings[0].contains("plain http") && warnings[1].contains("allowed_hosts"))
        open.allowedHosts = ["pipeline.example.org"]
        #expect(AdminAPI.startWarnings(open).count == 1)
        #expect(AdminAPI.startWarnings(AdminSettings(host: "127.0.0.1", port: 8089, token: "")).isEmpty)
    }
}
