import CheckedArithmetic
import Foundation
import Hummingbird
import HummingbirdCore
import PipelineJSON
import PipelinePayloads
import Logging
import NIOCore

/// The admin HTTP API (Hummingbird): job status and logs, schedules,
/// requests, health and metrics. docs/admin-api.md lists every endpoint.
///
/// Everything under `/api` needs `Authorization: Bearer <admin.token>`
/// (compared in constant time); `/healthz` and `/metrics` are open, for
/// probes and scrapers. Errors are JSON: `{"success": false, "error": "…"}`.
public struct AdminAPI: Sendable {
    let runtime: PipelineRuntime
    let token: String
    /// The admin page's sign-in sessions.
    let sessions = AdminSessions()
    /// Wrong tokens by address, shared by the API and the sign-in form.
    let limiter = FailedTokenLimiter()

    public init(runtime: PipelineRuntime, token: String) {
        self.runtime = runtime
        self.token = token
    }

    /// The application, listening on `host`:`port` (0 picks a free port,
    /// reported to `onListening`), with the limits of `admin` in
    /// pipeline.yaml: connections open at once, the idle (and header)
    /// timeout, and the names it answers to.
    public func application(
        host: String, port: Int, logger: Logger, onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let settings = runtime.configuration.admin
        let idle = TimeAmount.nanoseconds(Int64(saturating: Double(settings.idleTimeout.milliseconds) * 1_000_000))
        return Application(
            router: router(allowList: HostAllowList(listenHost: host, port: port, allowed: settings.allowedHosts)),
            server: .http1(configuration: .init(idleTimeout: idle)),
            configuration: .init(
                address: .hostname(host, port: port), serverName: "pipeline-host",
                availableConnectionsDelegate: MaximumAvailableConnections(settings.maxConnections, logger: logger)),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? port) }, logger: logger)
    }

    /// What an operator should hear at start about how the admin is exposed:
    /// plain http beyond loopback (the token and the session cookie cross
    /// the network in clear), and a wildcard listen with no allowed names.
    public static func startWarnings(_ settings: AdminSettings) -> [String] {
        var warnings: [String] = []
        if !settings.isLoopback {
            warnings.append(
                "the admin API and page listen on \(settings.host):\(settings.port) over plain http, beyond loopback: the admin "
                    + "token and the session cookie cross the network in clear. Listen on 127.0.0.1 and put a TLS proxy in "
                    + "front (docs/security.md)")
        }
        if HostAllowList(listenHost: settings.host, port: settings.port, allowed: settings.allowedHosts).allowsAny {
            warnings.append(
                "admin.listen takes every address and admin.allowed_hosts is empty: any Host name is answered; list the "
                    + "names the admin is reached by in admin.allowed_hosts")
        }
        return warnings
    }

    func router(allowList: HostAllowList) -> Router<AdminRequestContext> {
        let router = Router(context: AdminRequestContext.self)
        router.add(middleware: HostCheckMiddleware(allowList: allowList))
        router.get("healthz") { _, _ in try health() }
        router.get("metrics") { _, _ in
            await runtime.metrics.refresh(runtime)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(string: runtime.metrics.registry.emitToString())))
        }
        AdminPage(runtime: runtime, token: token, sessions: sessions, limiter: limiter).register(on: router)
        let api = router.group("api").add(middleware: BearerTokenMiddleware(token: token, limiter: limiter))
        api.get("admin/job-status/:id") { request, context in
            try await jobStatus(context.parameters.require("id"), type: request.uri.queryParameters["type"].map(String.init))
        }
        api.get("admin/logs") { request, _ in try await logs(request) }
        api.get("admin/jobs") { _, _ in try await schedules() }
        api.put("admin/jobs/:id") { request, context in
            try await updateSchedule(context.parameters.require("id"), request: request)
        }
        api.post("admin/jobs/:id/trigger") { _, context in try await trigger(context.parameters.require("id")) }
        api.post("admin/reload") { _, _ in try await reload() }
        api.post("requests") { request, _ in try await createRequest(request) }
        api.get("requests/:id") { _, context in try await request(context.parameters.require("id")) }
        api.post("requests/:id/cancel") { _, context in try await cancel(context.parameters.require("id")) }
        api.post("requests/:id/retry") { _, context in try await retry(context.parameters.require("id")) }
        api.get("requests/:id/blocklist") { _, context in try await blocklist(context.parameters.require("id")) }
        api.delete("requests/:id/blocklist/:entry") { _, context in
            try await unblock(context.parameters.require("id"), entry: context.parameters.require("entry"))
        }
        api.get("admin/blocklist") { request, _ in try await blocklist(nil, limit: request.uri.queryParameters["limit"].map(String.init)) }
        return router
    }

    // MARK: - Endpoints

    /// The host's view of Redis and PostgreSQL from its own recent calls: no
    /// call is made for the probe, which needs no token.
    func health() throws -> Response {
        let redis = runtime.redis.reachability.snapshot.state
        let postgres = runtime.postgres?.reachability.snapshot.state
        var body: [String: String] = ["redis": Self.healthWord(redis)]
        if let postgres { body["postgres"] = Self.healthWord(postgres) }
        let healthy = redis != .unreachable && postgres != .unreachable
        // Up, but the history schema is not migrated yet: requests cannot be taken.
        let starting = healthy && !runtime.isHistoryReady
        let word = starting ? "starting" : healthy ? "ok" : "unhealthy"
        return try Self.json(["status": word].merging(body) { a, _ in a }, status: healthy && !starting ? .ok : .serviceUnavailable)
    }

    static func healthWord(_ state: Reachability.State) -> String {
        switch state {
        case .ok: "ok"
        case .unknown: "not used yet"
        case .unreachable: "unreachable"
        }
    }

    /// A job by id; numeric ids repeat across job types, so `?type=` picks one
    /// and an id found in several types without it is a 409.
    func jobStatus(_ id: String, type: String?) async throws -> Response {
        let postgres = try requirePostgres()
        let rows = try await postgres.query(
            """
            SELECT job_id, job_type, status, created_at, started_at, completed_at, result::text, error_message,
                attempts, max_attempts FROM jobs WHERE job_id = $1 AND ($2::text IS NULL OR job_type = $2) LIMIT 2
            """, [id, type])
        guard rows.count > 0 else { throw AdminError(.notFound, "no job \(id)" + (type.map { " of type \($0)" } ?? "")) }
        guard rows.count == 1 else {
            throw AdminError(.conflict, "job id \(id) exists in several job types; add ?type=<job type>")
        }
        return try Self.json(JobStatusReply(success: true, job: JobView(rows, 0)))
    }

    func logs(_ request: Request) async throws -> Response {
        let postgres = try requirePostgres()
        let filter = try JobFilter(request.uri.queryParameters)
        let (total, jobs) = try await AdminQueries(postgres: postgres).jobs(filter, withEvents: true)
        return try Self.json(LogsReply(success: true, page: filter.page, pageSize: filter.pageSize, total: total, jobs: jobs))
    }

    func schedules() async throws -> Response {
        guard let scheduler = runtime.scheduler else { throw AdminError(.serviceUnavailable, "postgres.enabled is false: no schedules") }
        return try Self.json(SchedulesReply(success: true, jobs: try await scheduler.entries()))
    }

    func updateSchedule(_ id: String, request: Request) async throws -> Response {
        guard let scheduler = runtime.scheduler else { throw AdminError(.serviceUnavailable, "postgres.enabled is false: no schedules") }
        struct Change: Decodable {
            var enabled: Bool?
            var schedule: String?
        }
        let change = try await Self.decode(Change.self, from: request)
        if let enabled = change.enabled {
            guard try await scheduler.setEnabled(id, enabled) else { throw AdminError(.notFound, "no scheduled job \(id)") }
        }
        if let schedule = change.schedule {
            guard try await scheduler.setSchedule(id, schedule) else { throw AdminError(.notFound, "no scheduled job \(id)") }
        }
        guard let entry = try await scheduler.entries().first(where: { $0.name == id }) else {
            throw AdminError(.notFound, "no scheduled job \(id)")
        }
        return try Self.json(ScheduleReply(success: true, job: entry))
    }

    func trigger(_ id: String) async throws -> Response {
        guard let scheduler = runtime.scheduler else { throw AdminError(.serviceUnavailable, "postgres.enabled is false: no schedules") }
        guard let jobID = try await scheduler.trigger(id) else { throw AdminError(.notFound, "no scheduled job \(id)") }
        return try Self.json(TriggerReply(success: true, jobId: jobID))
    }

    /// Reads pipeline.yaml again (as SIGHUP does): 200 with what changed, or
    /// 422 with every problem while the running configuration stays.
    func reload() async throws -> Response {
        struct Applied: Encodable {
            var success = true
            var changes: ReloadSummary
        }
        struct Refused: Encodable {
            var success = false
            var error: String
            var problems: [String]
        }
        switch await runtime.reload() {
        case .applied(let summary):
            return try Self.json(Applied(changes: summary))
        case .refused(let problems):
            return try Self.json(
                Refused(error: "reload refused; the running configuration stays", problems: problems), status: .unprocessableContent)
        }
    }

    func createRequest(_ request: Request) async throws -> Response {
        _ = try requireLedger()
        let new = try await Self.decode(NewRequest.self, from: request)
        guard !new.title.trimmingCharacters(in: .whitespaces).isEmpty else { throw AdminError(.badRequest, "title must not be empty") }
        let record: RequestRecord
        do throws(RequestIntakeError) {
            record = try await runtime.submit(new)
        } catch {
            if case .ledger(.invalidQuery(let why)) = error { throw AdminError(.badRequest, why) }
            throw AdminError(.serviceUnavailable, error.description)
        }
        return try Self.json(RequestReply(success: true, request: record), status: .created)
    }

    func request(_ id: String) async throws -> Response {
        guard let record = try await requireLedger().request(id) else { throw AdminError(.notFound, "no request \(id)") }
        return try Self.json(RequestReply(success: true, request: record))
    }

    func cancel(_ id: String) async throws -> Response {
        let ledger = try requireLedger()
        guard let current = try await ledger.request(id) else { throw AdminError(.notFound, "no request \(id)") }
        guard RequestTransitions.cancellable.contains(current.status) else {
            throw AdminError(.conflict, "request \(id) is \(current.status.rawValue) and cannot be cancelled")
        }
        try await ledger.transition(id, to: .cancelled, reason: "cancelled by an operator")
        let removed = try await runtime.removeQueuedJobs(ofRequest: id)
        guard let record = try await ledger.request(id) else { throw AdminError(.notFound, "no request \(id)") }
        return try Self.json(CancelReply(success: true, request: record, removedJobs: removed))
    }

    func retry(_ id: String) async throws -> Response {
        let ledger = try requireLedger()
        guard let current = try await ledger.snapshot(id), let status = RequestStatus(rawValue: current.status) else {
            throw AdminError(.notFound, "no request \(id)")
        }
        switch status {
        case .warn, .awaitingImport:
            guard let payload = current.importPayload else {
                throw AdminError(
                    .conflict, "request \(id) has no finished download to import again; cancel it and request the book anew")
            }
            try await ledger.transition(id, to: .processing, reason: "import retried by an operator")
            try await enqueue("organize_files", String(decoding: try JSONEncoder().encode(payload), as: UTF8.self))
        case .failed, .awaitingSearch, .awaitingRelease:
            try await ledger.transition(id, to: .pending, reason: "search retried by an operator")
            // An operator's retry searches now, released or not.
            try await enqueue("search_indexers", Self.text(current.searchPayload(manual: true)))
        default:
            throw AdminError(.conflict, "request \(id) is \(status.rawValue); only failed, warn and awaiting requests can be retried")
        }
        guard let record = try await ledger.request(id) else { throw AdminError(.notFound, "no request \(id)") }
        return try Self.json(RequestReply(success: true, request: record))
    }

    /// A request's blocklist (or every request's, for `id` nil), newest first.
    func blocklist(_ id: String?, limit: String? = nil) async throws -> Response {
        let ledger = try requireLedger()
        let count: Int
        if let limit {
            guard let number = Int(limit), (1...1_000).contains(number) else {
                throw AdminError(.badRequest, "limit must be a whole number from 1 to 1000, not '\(limit)'")
            }
            count = number
        } else {
            count = 200
        }
        if let id, try await ledger.request(id) == nil { throw AdminError(.notFound, "no request \(id)") }
        return try Self.json(BlocklistReply(success: true, blocklist: try await ledger.blocklist(request: id, limit: count)))
    }

    /// Takes one release off a request's blocklist: the next search may choose it again.
    func unblock(_ id: String, entry: String) async throws -> Response {
        guard let entryID = Int64(entry), entryID > 0 else {
            throw AdminError(.badRequest, "'\(entry)' is not a blocklist entry id (a whole number, from GET /api/requests/\(id)/blocklist)")
        }
        guard try await requireLedger().unblock(request: id, entry: entryID) else {
            throw AdminError(.notFound, "request \(id) has no blocklist entry \(entryID)")
        }
        return try Self.json(UnblockReply(success: true, removed: entryID))
    }

    /// The JSON text of `value`.
    static func text(_ value: JSONValue) throws -> String {
        String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
    }

    // MARK: - Helpers

    /// Adds a job of `jobType` when that job type exists; a 503 if Redis
    /// cannot take it (the request's status is already written: retry it).
    func enqueue(_ jobType: String, _ payload: String) async throws {
        guard runtime.queues[jobType] != nil else { return }
        do {
            _ = try await runtime.enqueue(jobType, payloadJSON: payload)
        } catch {
            throw AdminError(.serviceUnavailable, "could not add the \(jobType) job (\(error)); retry the request")
        }
    }

    func requirePostgres() throws -> PostgresClient {
        guard let postgres = runtime.postgres else { throw AdminError(.serviceUnavailable, "postgres.enabled is false: no history") }
        return postgres
    }

    func requireLedger() throws -> RequestLedger {
        guard let ledger = runtime.ledger else { throw AdminError(.serviceUnavailable, "postgres.enabled is false: no requests") }
        guard runtime.isHistoryReady else {
            throw AdminError(.serviceUnavailable, "the host is starting: the history schema is not migrated yet; try again in a moment")
        }
        return ledger
    }

    static func decode<T: Decodable>(_ type: T.Type, from request: Request) async throws -> T {
        var request = request
        let buffer = try await request.collectBody(upTo: 1 << 20)
        do {
            return try JSONDecoder().decode(type, from: Data(buffer.readableBytesView))
        } catch let error as DecodingError {
            throw AdminError(.badRequest, "malformed JSON body: \(Self.describe(error))")
        } catch {
            throw AdminError(.badRequest, "malformed JSON body")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        switch error {
        case .keyNotFound(let key, _): return "missing field '\(key.stringValue)'"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "wrong type at '\(context.codingPath.map(\.stringValue).joined(separator: "."))'"
        case .dataCorrupted: return "not valid JSON"
        @unknown default: return "unreadable"
        }
    }

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let body = String(decoding: try encoder.encode(value), as: UTF8.self)
        return Response(
            status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}

/// An error the API answers with its status and `{"success": false, "error": message}`.
struct AdminError: HTTPResponseError {
    let status: HTTPResponse.Status
    let message: String

    init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        try AdminAPI.json(ErrorReply(success: false, error: message), status: status)
    }
}

/// Requires `Authorization: Bearer <token>`, compared in constant time; an
/// address that keeps sending wrong tokens is slowed down (``FailedTokenLimiter``).
struct BearerTokenMiddleware: RouterMiddleware {
    typealias Context = AdminRequestContext
    let token: [UInt8]
    let limiter: FailedTokenLimiter

    init(token: String, limiter: FailedTokenLimiter) {
        self.token = Array(token.utf8)
        self.limiter = limiter
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let wait = limiter.wait(for: context.peer) { return try FailedTokenLimiter.tooManyAttempts(wait) }
        let header = request.headers[.authorization] ?? ""
        let given = header.hasPrefix("Bearer ") ? Array(header.dropFirst(7).utf8) : []
        guard !token.isEmpty, Self.constantTimeEqual(given, token) else {
            // A request with no token at all is a mistake, not a guess.
            if !given.isEmpty { try await Task.sleep(for: limiter.recordFailure(from: context.peer)) }
            return try AdminAPI.json(
                ErrorReply(success: false, error: "missing or wrong bearer token: send Authorization: Bearer <admin.token>"),
                status: .unauthorized)
        }
        limiter.recordSuccess(from: context.peer)
        return try await next(request, context)
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for index in 0..<max(a.count, b.count) {
            difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
        }
        return difference == 0
    }
}

struct ErrorReply: Encodable {
    var success: Bool
    var error: String
}

struct JobView: Encodable {
    var id: String
    var type: String
    var status: String
    var createdAt: String?
    var startedAt: String?
    var completedAt: String?
    var result: String?
    var errorMessage: String?
    var attempts: Int
    var maxAttempts: Int?
    /// The host that ran it last, when the history knows.
    var host: String?

    init(_ rows: PostgresRows, _ index: Int) {
        id = rows[index, "job_id"] ?? ""
        type = rows[index, "job_type"] ?? ""
        status = rows[index, "status"] ?? ""
        createdAt = rows[index, "created_at"]
        startedAt = rows[index, "started_at"]
        completedAt = rows[index, "completed_at"]
        result = rows[index, "result"]
        errorMessage = rows[index, "error_message"]
        attempts = Int(rows[index, "attempts"] ?? "0") ?? 0
        maxAttempts = rows[index, "max_attempts"].flatMap(Int.init)
        host = rows[index, "host"]
    }
}

struct JobStatusReply: Encodable {
    var success: Bool
    var job: JobView
}

struct EventView: Encodable {
    var level: String
    var context: String
    var message: String
    var metadata: String?
    var createdAt: String
}

struct LogEntry: Encodable {
    var job: JobView
    var requestId: String?
    var events: [EventView]
}

struct LogsReply: Encodable {
    var success: Bool
    var page: Int
    var pageSize: Int
    var total: Int
    var jobs: [LogEntry]
}

struct SchedulesReply: Encodable {
    var success: Bool
    var jobs: [Scheduler.Entry]
}

struct ScheduleReply: Encodable {
    var success: Bool
    var job: Scheduler.Entry
}

struct TriggerReply: Encodable {
    var success: Bool
    var jobId: String
}

struct RequestReply: Encodable {
    var success: Bool
    var request: RequestRecord
}

struct BlocklistReply: Encodable {
    var success: Bool
    var blocklist: [BlocklistRecord]
}

struct UnblockReply: Encodable {
    var success: Bool
    var removed: Int64
}

struct CancelReply: Encodable {
    var success: Bool
    var request: RequestRecord
    var removedJobs: [String]
}
