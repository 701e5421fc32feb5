import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The admin page under `/admin`: server-rendered HTML with a little
/// JavaScript that refreshes lists in place. Requests with their progress;
/// jobs filtered by status, type, request and date, each with its event log;
/// schedules with their last and next run, enable/disable and "Trigger now";
/// queue depth and running jobs per job type and host.
///
/// Sign-in takes the admin token and starts a cookie session
/// (``AdminSessions``). Before that, everything under `/admin` but the
/// sign-in page redirects there (reads) or is refused (changes). Changes are
/// POST forms that carry the session's form token and, when the browser says
/// where they come from (`Origin`), must come from this host.
struct AdminPage: Sendable {
    let runtime: PipelineRuntime
    let token: String
    let sessions: AdminSessions
    let limiter: FailedTokenLimiter

    func register(on router: Router<AdminRequestContext>) {
        router.get("admin/login") { request, _ in
            if sessions.session(Self.sessionID(request)) != nil { return Self.redirect("/admin/requests") }
            return Self.signInPage(error: nil, next: Self.nextPage(request.uri.queryParameters["next"].map(String.init)))
        }
        router.post("admin/login") { request, context in try await signIn(request, context: context) }
        let admin = router.group("admin").add(middleware: SessionMiddleware(sessions: sessions))
        admin.get("") { _, _ in Self.redirect("/admin/requests") }
        admin.get("static/admin.css") { _, _ in Self.asset(AdminHTML.stylesheet, type: "text/css; charset=utf-8") }
        admin.get("static/admin.js") { _, _ in Self.asset(AdminHTML.script, type: "text/javascript; charset=utf-8") }
        admin.get("requests") { request, _ in try await requests(request) }
        admin.get("jobs") { request, _ in try await jobs(request) }
        admin.get("jobs/:type/:id") { request, context in
            try await job(request, type: context.parameters.require("type"), id: context.parameters.require("id"))
        }
        admin.get("schedules") { request, _ in try await schedules(request) }
        admin.post("schedules/:name/enabled") { request, context in try await setEnabled(request, context.parameters.require("name")) }
        admin.post("schedules/:name/trigger") { _, context in try await trigger(context.parameters.require("name")) }
        admin.get("queues") { request, _ in try await queues(request) }
        admin.get("blocklist") { request, _ in try await blocklist(request) }
        admin.post("blocklist/:request/:entry/remove") { _, context in
            try await unblock(context.parameters.require("request"), context.parameters.require("entry"))
        }
        admin.post("logout") { request, _ in
            sessions.end(Self.sessionID(request))
            var response = Self.redirect("/admin/login")
            response.headers[.setCookie] =
                "\(AdminSessions.cookieName)=; Path=/admin; Max-Age=0; HttpOnly; SameSite=Strict" + (Self.isHTTPS(request) ? "; Secure" : "")
            return response
        }
    }

    // MARK: - Sign-in

    private func signIn(_ request: Request, context: AdminRequestContext) async throws -> Response {
        guard SessionMiddleware<AdminRequestContext>.isSameOrigin(request) else {
            return Self.signInPage(error: "sign in from this host's own page", next: "", status: .forbidden)
        }
        if let wait = limiter.wait(for: context.peer) {
            var response = Self.signInPage(
                error: "Too many wrong tokens from this address; wait a minute and try again.", next: "", status: .tooManyRequests)
            response.headers[.retryAfter] = String(max(1, wait.components.seconds + 1))
            return response
        }
        var request = request
        let form = Self.form(try await request.collectBody(upTo: 16 << 10))
        let next = Self.nextPage(form["next"])
        guard !token.isEmpty, AdminSessions.constantTimeEqual(form["token"] ?? "", token) else {
            try await Task.sleep(for: limiter.recordFailure(from: context.peer))
            return Self.signInPage(error: "That is not the admin token (admin.token in pipeline.yaml).", next: next, status: .unauthorized)
        }
        limiter.recordSuccess(from: context.peer)
        let session = sessions.start()
        var response = Self.redirect(next)
        response.headers[.setCookie] =
            "\(AdminSessions.cookieName)=\(session.id); Path=/admin; Max-Age=\(Int(AdminSessions.lifetime)); HttpOnly; SameSite=Strict"
            + (Self.isHTTPS(request) ? "; Secure" : "")
        return response
    }

    /// Where to go after signing in: a page under /admin/ (never the sign-in
    /// page itself, never another site), else the requests page.
    static func nextPage(_ given: String?) -> String {
        guard let given, given.utf8.count <= 2048, given.hasPrefix("/admin/"), !given.hasPrefix("/admin/login"),
            !given.contains("\\"), !given.hasPrefix("//")
        else { return "/admin/requests" }
        return given
    }

    /// Whether the browser reached the page over https: directly, or through
    /// a proxy that says so (`X-Forwarded-Proto: https`, `Forwarded: proto=https`).
    static func isHTTPS(_ request: Request) -> Bool {
        if request.head.scheme?.lowercased() == "https" { return true }
        if let proto = request.headers[HTTPField.Name("X-Forwarded-Proto")!], proto.lowercased().split(separator: ",").first?
            .trimmingCharacters(in: .whitespaces) == "https"
        {
            return true
        }
        if let forwarded = request.headers[HTTPField.Name("Forwarded")!], forwarded.lowercased().contains("proto=https") { return true }
        return false
    }

    // MARK: - Pages

    private func requests(_ request: Request) async throws -> Response {
        let postgres = try requirePostgres()
        let records = try await AdminQueries(postgres: postgres).requests()
        let rows = records.map { record in
            let percent = max(0, min(100, record.progress))
            return "<tr id=\"request-\(AdminHTML.escape(record.id))\"><td>\(AdminHTML.escape(record.title))<br><small>\(AdminHTML.escape(record.author))</small></td>"
                + "<td class=\"status\">\(AdminHTML.badge(record.status.rawValue))</td>"
                + "<td><span class=\"progress\"><span style=\"width:\(Int(percent))%\"></span></span> \(Int(percent)) %</td>"
                + "<td>\(AdminHTML.escape(record.statusReason ?? ""))</td><td>\(AdminHTML.escape(record.updatedAt))</td>"
                + "<td><a href=\"/admin/jobs\(AdminHTML.query([("request", record.id)]))\">jobs</a> "
                + "<a href=\"/admin/blocklist\(AdminHTML.query([("request", record.id)]))\">blocklist</a></td></tr>"
        }
        let content = AdminHTML.table(["Book", "Status", "Progress", "Why", "Updated", ""], rows, empty: "No requests yet.")
        return try render(request, title: "Requests", active: "requests", live: ("requests", "/admin/requests?fragment=1"), content)
    }

    private func jobs(_ request: Request) async throws -> Response {
        let postgres = try requirePostgres()
        let filter: JobFilter
        do {
            filter = try JobFilter(request.uri.queryParameters)
        } catch {
            return try page(
                request, title: "Jobs", active: "jobs",
                body: "<p class=\"error\">\(AdminHTML.escape(error.message))</p><p><a href=\"/admin/jobs\">All jobs</a></p>",
                status: .badRequest)
        }
        let (total, entries) = try await AdminQueries(postgres: postgres).jobs(filter, withEvents: false)
        let rows = entries.map { entry in
            let job = entry.job
            let link = "/admin/jobs/\(Self.pathComponent(job.type))/\(Self.pathComponent(job.id))"
            return "<tr><td><a class=\"job\" href=\"\(AdminHTML.escape(link))\">\(AdminHTML.escape(job.type)) \(AdminHTML.escape(job.id))</a></td>"
                + "<td>\(AdminHTML.badge(job.status))</td><td>\(job.attempts)\(job.maxAttempts.map { " of \($0)" } ?? "")</td>"
                + "<td>\(AdminHTML.escape(job.createdAt ?? ""))</td><td>\(AdminHTML.escape(job.host ?? ""))</td>"
                + "<td>\(entry.requestId.map { "<a href=\"/admin/jobs\(AdminHTML.query([("request", $0)]))\">\(AdminHTML.escape(String($0.prefix(8))))</a>" } ?? "")</td>"
                + "<td>\(AdminHTML.escape(String((job.errorMessage ?? "").prefix(160))))</td></tr>"
        }
        let own: [(String, String?)] = [
            ("status", filter.status), ("type", filter.type), ("request", filter.request), ("from", filter.from), ("to", filter.to),
        ]
        var pages: [String] = []
        if filter.page > 1 { pages.append("<a href=\"/admin/jobs\(AdminHTML.query(own + [("page", String(filter.page - 1))]))\">newer</a>") }
        if filter.page * filter.pageSize < total {
            pages.append("<a href=\"/admin/jobs\(AdminHTML.query(own + [("page", String(filter.page + 1))]))\">older</a>")
        }
        let content = "<p>\(total) job(s)" + (pages.isEmpty ? "" : " · " + pages.joined(separator: " · ")) + "</p>"
            + AdminHTML.table(["Job", "Status", "Attempts", "Added", "Host", "Request", "Error"], rows, empty: "No job matches.")
        if request.uri.queryParameters["fragment"] != nil { return Self.html(content) }
        let statuses = ["", "pending", "delayed", "active", "completed", "failed", "stuck", "cancelled"]
        let types = [""] + runtime.configuration.jobs.map(\.name)
        func select(_ name: String, _ options: [String], _ chosen: String?) -> String {
            "<select name=\"\(name)\" id=\"filter-\(name)\">" + options.map { option in
                "<option value=\"\(AdminHTML.escape(option))\"\(option == (chosen ?? "") ? " selected" : "")>\(option.isEmpty ? "any \(name)" : AdminHTML.escape(option))</option>"
            }.joined() + "</select>"
        }
        let form = """
            <form method="get" action="/admin/jobs" class="filters">
            \(select("status", statuses, filter.status)) \(select("type", types, filter.type))
            <input name="request" placeholder="request id" value="\(AdminHTML.escape(filter.request ?? ""))">
            <input name="from" type="date" value="\(AdminHTML.escape(filter.from ?? ""))">
            <input name="to" type="date" value="\(AdminHTML.escape(filter.to ?? ""))">
            <button type="submit">Filter</button></form>
            """
        let live = AdminHTML.live("jobs", source: "/admin/jobs" + AdminHTML.query(own + [("page", String(filter.page)), ("fragment", "1")]), content)
        return try page(request, title: "Jobs", active: "jobs", body: form + live)
    }

    private func job(_ request: Request, type: String, id: String) async throws -> Response {
        let postgres = try requirePostgres()
        guard let entry = try await AdminQueries(postgres: postgres).job(type: type, id: id) else {
            return try page(request, title: "No such job", active: "jobs", body: "<p>No job \(AdminHTML.escape(id)) of type \(AdminHTML.escape(type)) in the history.</p>", status: .notFound)
        }
        let job = entry.job
        let facts: [(String, String?)] = [
            ("Status", job.status), ("Attempts", "\(job.attempts)\(job.maxAttempts.map { " of \($0)" } ?? "")"), ("Host", job.host),
            ("Added", job.createdAt), ("Started", job.startedAt), ("Finished", job.completedAt), ("Request", entry.requestId),
        ]
        var body = "<table class=\"facts\">" + facts.compactMap { label, value in
            value.map { "<tr><th>\(label)</th><td>\(label == "Status" ? AdminHTML.badge($0) : AdminHTML.escape($0))</td></tr>" }
        }.joined() + "</table>"
        if let error = job.errorMessage { body += "<h2>Error</h2><pre id=\"error\">\(AdminHTML.escape(error))</pre>" }
        if let result = job.result { body += "<h2>Result</h2><pre id=\"result\">\(AdminHTML.escape(Self.pretty(result)))</pre>" }
        body += "<h2>Event log</h2><ol class=\"events\" id=\"events\">" + entry.events.map { event in
            let level = event.level.filter(\.isLetter)
            var item = "<li class=\"\(level)\"><span class=\"level\">\(AdminHTML.escape(event.level))</span>\(AdminHTML.escape(event.message))"
                + " <small>\(AdminHTML.escape(event.context)) · \(AdminHTML.escape(event.createdAt))</small>"
            if let metadata = event.metadata {
                item += "<details><summary>metadata</summary><pre>\(AdminHTML.escape(Self.pretty(metadata)))</pre></details>"
            }
            return item + "</li>"
        }.joined() + "</ol>"
        return try page(request, title: "\(job.type) \(job.id)", active: "jobs", body: body)
    }

    private func schedules(_ request: Request) async throws -> Response {
        guard let scheduler = runtime.scheduler else { throw AdminError(.serviceUnavailable, "postgres.enabled is false: no schedules") }
        let csrf = sessions.session(Self.sessionID(request))?.csrfToken ?? ""
        let rows = try await scheduler.entries().map { entry in
            let name = AdminHTML.escape(entry.name)
            let path = Self.pathComponent(entry.name)
            let lastJob = entry.lastRunJobID.map {
                " (<a href=\"/admin/jobs/\(AdminHTML.escape(Self.pathComponent(entry.jobType)))/\(AdminHTML.escape(Self.pathComponent($0)))\">job \(AdminHTML.escape($0))</a>)"
            } ?? ""
            return "<tr id=\"schedule-\(name)\"><td>\(name)</td><td>\(AdminHTML.escape(entry.kind)) \(AdminHTML.escape(entry.expression))</td>"
                + "<td>\(entry.enabled ? "enabled" : "disabled")</td><td>\(AdminHTML.escape(entry.lastRunAt ?? "never"))\(lastJob)</td>"
                + "<td>\(AdminHTML.escape(entry.nextRunAt ?? ""))</td><td>"
                + "<form method=\"post\" action=\"/admin/schedules/\(AdminHTML.escape(path))/enabled\" class=\"inline\">\(AdminHTML.csrfField(csrf))"
                + "<input type=\"hidden\" name=\"enabled\" value=\"\(entry.enabled ? "false" : "true")\"><button type=\"submit\">\(entry.enabled ? "Disable" : "Enable")</button></form> "
                + "<form method=\"post\" action=\"/admin/schedules/\(AdminHTML.escape(path))/trigger\" class=\"inline\">\(AdminHTML.csrfField(csrf))"
                + "<button type=\"submit\" id=\"trigger-\(name)\">Trigger now</button></form></td></tr>"
        }
        let content = AdminHTML.table(["Schedule", "When", "", "Last run", "Next run", ""], rows, empty: "No schedules in pipeline.yaml.")
        return try render(request, title: "Schedules", active: "schedules", live: ("schedules", "/admin/schedules?fragment=1"), content)
    }

    private func setEnabled(_ request: Request, _ name: String) async throws -> Response {
        guard let scheduler = runtime.scheduler else { throw AdminError(.serviceUnavailable, "postgres.enabled is false: no schedules") }
        var request = request
        let form = Self.form(try await request.collectBody(upTo: 16 << 10))
        let enabled = form["enabled"] == "true"
        guard try await scheduler.setEnabled(name, enabled) else { throw AdminError(.notFound, "no scheduled job \(name)") }
        return Self.redirect("/admin/schedules" + AdminHTML.query([("flash", "\(name) \(enabled ? "enabled" : "disabled")")]))
    }

    private func trigger(_ name: String) async throws -> Response {
        guard let scheduler = runtime.scheduler else { throw AdminError(.serviceUnavailable, "postgres.enabled is false: no schedules") }
        guard let jobID = try await scheduler.trigger(name) else { throw AdminError(.notFound, "no scheduled job \(name)") }
        return Self.redirect("/admin/schedules" + AdminHTML.query([("flash", "Triggered \(name): job \(jobID)")]))
    }

    private func queues(_ request: Request) async throws -> Response {
        var rows: [String] = []
        let failures = runtime.scriptFailures
        for job in runtime.configuration.jobs {
            guard let queue = runtime.queues[job.name] else { continue }
            // A queue whose keys are damaged cannot be counted either: say so in the row.
            let counts = (try? await queue.counts()) ?? [:]
            let worker = failures[job.name].map { failure in
                "<span class=\"badge failed\">failing</span> \(failure.count) time(s) in a row since "
                    + "\(AdminHTML.escape(ISO8601DateFormatter().string(from: failure.since))): \(AdminHTML.escape(failure.message))"
            } ?? "ok"
            rows.append(
                "<tr id=\"queue-\(AdminHTML.escape(job.name))\"><td>\(AdminHTML.escape(job.name))</td>"
                    + [JobSnapshot.State.waiting, .prioritized, .delayed, .active, .completed, .failed]
                    .map { "<td>\(counts[$0] ?? 0)</td>" }.joined() + "<td>\(job.concurrency)</td><td class=\"worker\">\(worker)</td></tr>")
        }
        var content = "<h2>Queue depth</h2>" + AdminHTML.table(
            ["Job type", "Waiting", "Prioritized", "Delayed", "Active", "Completed (kept)", "Failed (kept)", "Concurrency here", "Worker here"],
            rows, empty: "No job types.")
        let plugins = runtime.plugins.sorted { $0.key < $1.key }.map { name, instance -> String in
            let status = instance.isolationStatus
            let uptime = status.startedAt.map { DurationSyntax.format(.seconds(Int64(max(0, Date().timeIntervalSince($0))))) } ?? "-"
            let limit = status.memoryLimit.map { "\(ByteSize.describe($0)) (\(status.memoryMechanism ?? ""))" } ?? "-"
            let crash = status.lastCrash.map { crash in
                AdminHTML.escape(crash) + (status.lastCrashJobs.isEmpty ? "" : " · jobs " + AdminHTML.escape(status.lastCrashJobs.joined(separator: ", ")))
            } ?? "-"
            return "<tr id=\"plugin-\(AdminHTML.escape(name))\"><td>\(AdminHTML.escape(name))</td><td>\(AdminHTML.escape(instance.plugin.info.id))</td>"
                + "<td>\(status.mode)</td><td>\(status.pid.map(String.init) ?? (status.mode == "process" ? "restarting" : "-"))</td>"
                + "<td>\(uptime)</td><td>\(status.inFlight)</td><td class=\"restarts\">\(status.restarts)</td><td>\(limit)</td>"
                + "<td class=\"last-crash\">\(crash)</td></tr>"
        }
        content += "<h2>Plugins on this host</h2>" + AdminHTML.table(
            ["Plugin", "Id", "Isolation", "Runner pid", "Up", "Calls now", "Restarts", "Memory limit", "Last crash"], plugins,
            empty: "No plugins.")
        if let postgres = runtime.postgres {
            let running = try await AdminQueries(postgres: postgres).runningByHost().map {
                "<tr><td>\(AdminHTML.escape($0.jobType))</td><td>\(AdminHTML.escape($0.host))</td><td>\($0.count)</td></tr>"
            }
            content += "<h2>Running, by host</h2>" + AdminHTML.table(["Job type", "Host", "Running"], running, empty: "Nothing running.")
        }
        return try render(request, title: "Queues", active: "queues", live: ("queues", "/admin/queues?fragment=1"), content)
    }

    // MARK: - Helpers

    /// The releases blocklisted for one request (`?request=`) or for all,
    /// newest first, each with a button that takes it off the list.
    private func blocklist(_ request: Request) async throws -> Response {
        guard let ledger = runtime.ledger else { throw AdminError(.serviceUnavailable, "postgres.enabled is false: no requests") }
        let only = request.uri.queryParameters["request"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
        let csrf = sessions.session(Self.sessionID(request))?.csrfToken ?? ""
        let rows = try await ledger.blocklist(request: only, limit: 500).map { entry in
            let action = "/admin/blocklist/\(Self.pathComponent(entry.requestID))/\(entry.id)/remove"
            return "<tr id=\"blocked-\(entry.id)\"><td>\(AdminHTML.escape(entry.title))<br><small>\(AdminHTML.escape(entry.requestID))</small></td>"
                + "<td>\(AdminHTML.escape(entry.releaseTitle))<br><small>\(AdminHTML.escape([entry.protocol, entry.indexer, entry.releaseID].compactMap { $0 }.joined(separator: " · ")))</small></td>"
                + "<td>\(AdminHTML.escape(entry.reason))</td><td>\(AdminHTML.escape(entry.createdAt))</td><td>"
                + "<form method=\"post\" action=\"\(AdminHTML.escape(action))\" class=\"inline\">\(AdminHTML.csrfField(csrf))"
                + "<button type=\"submit\" id=\"unblock-\(entry.id)\">Remove</button></form></td></tr>"
        }
        let heading = only.map { "<p>Request \(AdminHTML.escape($0)) · <a href=\"/admin/blocklist\">every request</a></p>" } ?? ""
        let content = heading + AdminHTML.table(
            ["Book", "Release", "Why", "Since", ""], rows,
            empty: "No blocklisted releases. A release lands here when its download fails in the client; the request's searches pass over it.")
        let source = "/admin/blocklist" + AdminHTML.query((only.map { [("request", $0)] } ?? []) + [("fragment", "1")])
        return try render(request, title: "Blocklist", active: "blocklist", live: ("blocklist", source), content)
    }

    private func unblock(_ requestID: String, _ entry: String) async throws -> Response {
        guard let ledger = runtime.ledger else { throw AdminError(.serviceUnavailable, "postgres.enabled is false: no requests") }
        guard let entryID = Int64(entry), try await ledger.unblock(request: requestID, entry: entryID) else {
            throw AdminError(.notFound, "request \(requestID) has no blocklist entry \(entry)")
        }
        return Self.redirect(
            "/admin/blocklist" + AdminHTML.query([("request", requestID), ("flash", "Removed entry \(entryID): the next search may choose that release again")]))
    }

    private func requirePostgres() throws -> PostgresClient {
        guard let postgres = runtime.postgres else { throw AdminError(.serviceUnavailable, "postgres.enabled is false: no history") }
        return postgres
    }

    /// A list page, or just its live region for the page's refresh (`?fragment=1`).
    private func render(_ request: Request, title: String, active: String, live: (id: String, source: String), _ content: String) throws -> Response {
        if request.uri.queryParameters["fragment"] != nil { return Self.html(content) }
        return try page(request, title: title, active: active, body: AdminHTML.live(live.id, source: live.source, content))
    }

    private func page(_ request: Request, title: String, active: String, body: String, status: HTTPResponse.Status = .ok) throws -> Response {
        let csrf = sessions.session(Self.sessionID(request))?.csrfToken ?? ""
        let flash = request.uri.queryParameters["flash"].map(String.init)
        return Self.html(AdminHTML.page(title: title, active: active, csrfToken: csrf, flash: flash, body: body), status: status)
    }

    static func sessionID(_ request: Request) -> String? {
        request.cookies[AdminSessions.cookieName]?.value
    }

    static let securityHeaders: [(HTTPField.Name, String)] = [
        (.contentSecurityPolicy, "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"),
        (.cacheControl, "no-store"), (HTTPField.Name("X-Frame-Options")!, "DENY"), (HTTPField.Name("Referrer-Policy")!, "same-origin"),
        (HTTPField.Name("X-Content-Type-Options")!, "nosniff"),
    ]

    static func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        var headers: HTTPFields = [.contentType: "text/html; charset=utf-8"]
        for (name, value) in securityHeaders { headers[name] = value }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func signInPage(error: String?, next: String, status: HTTPResponse.Status = .ok) -> Response {
        html(AdminHTML.signIn(error: error, next: next), status: status)
    }

    static func asset(_ text: String, type: String) -> Response {
        var headers: HTTPFields = [.contentType: type, .cacheControl: "no-store"]
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location, .cacheControl: "no-store"])
    }

    /// `application/x-www-form-urlencoded` fields.
    static func form(_ buffer: ByteBuffer) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in String(buffer: buffer).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String {
                String(text).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(text)
            }
            guard let name = parts.first else { continue }
            fields[decode(name)] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return fields
    }

    static func pathComponent(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/?#"))) ?? text
    }

    /// JSON indented for reading, or the text as it is.
    static func pretty(_ json: String) -> String {
        guard let value = try? JSONSerialization.jsonObject(with: Data(json.utf8), options: [.fragmentsAllowed]),
            let data = try? JSONSerialization.data(withJSONObject: value, options: [.prettyPrinted, .sortedKeys, .fragmentsAllowed])
        else { return json }
        return String(decoding: data, as: UTF8.self)
    }
}

/// Lets through only requests of a live session: reads without one are sent
/// to the sign-in page, changes without one refused. A change must also carry
/// the session's form token and, when the browser names its origin, come from
/// this host.
struct SessionMiddleware<Context: RequestContext>: RouterMiddleware {
    let sessions: AdminSessions

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let session = sessions.session(AdminPage.sessionID(request)) else {
            if request.method == .get || request.method == .head {
                let next = request.uri.path.hasPrefix("/admin/static") ? "/admin/requests" : request.uri.description
                return AdminPage.redirect("/admin/login" + AdminHTML.query([("next", next)]))
            }
            return AdminPage.html("<p>Sign in first: <a href=\"/admin/login\">/admin/login</a></p>", status: .unauthorized)
        }
        guard request.method != .get, request.method != .head else { return try await next(request, context) }
        guard Self.isSameOrigin(request) else {
            return AdminPage.html("<p>Refused: this change came from another site.</p>", status: .forbidden)
        }
        var request = request
        let form = AdminPage.form(try await request.collectBody(upTo: 64 << 10))
        let given = form["csrf"] ?? request.headers[HTTPField.Name("X-CSRF-Token")!] ?? ""
        guard AdminSessions.constantTimeEqual(given, session.csrfToken) else {
            return AdminPage.html("<p>Refused: the form's token is missing or stale. Reload the page and try again.</p>", status: .forbidden)
        }
        return try await next(request, context)
    }

    /// True unless the request names an origin (or referrer) other than its own host.
    static func isSameOrigin(_ request: Request) -> Bool {
        let host = request.head.authority ?? ""
        let origin = request.headers[.origin] ?? request.headers[.referer]
        guard let origin, origin != "null" else { return origin == nil }
        guard let url = URL(string: origin), let originHost = url.host else { return false }
        let originAuthority = url.port.map { "\(originHost):\($0)" } ?? originHost
        return originAuthority == host
    }
}
