import Foundation
import Hummingbird
import HummingbirdCore

/// Which jobs an operator asks for: the admin API's `logs` and the admin
/// page's job list filter the same way.
struct JobFilter: Sendable {
    var status: String?
    var type: String?
    var request: String?
    /// Timestamps PostgreSQL reads (`2026-11-29`, `2026-11-29T12:00:00Z`).
    var from: String?
    var to: String?
    /// From 1.
    var page = 1
    /// 1 to 200.
    var pageSize = 50

    init(status: String? = nil, type: String? = nil, request: String? = nil, from: String? = nil, to: String? = nil) {
        self.status = status
        self.type = type
        self.request = request
        self.from = from
        self.to = to
    }

    /// From query parameters (`status`, `type`, `request`, `from`, `to`, `page`, `pageSize`); empty ones are no filter.
    init(_ query: FlatDictionary<Substring, Substring>) {
        func value(_ name: String) -> String? {
            query[Substring(name)].map(String.init).flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0 }
        }
        status = value("status")
        type = value("type")
        request = value("request")
        from = value("from")
        to = value("to")
        page = max(1, Int(value("page") ?? "") ?? 1)
        pageSize = min(200, max(1, Int(value("pageSize") ?? "") ?? 50))
    }
}

/// The reads the admin API and the admin page share, from PostgreSQL.
struct AdminQueries: Sendable {
    let postgres: PostgresClient

    /// Jobs newest first, with their event logs when asked, and how many match in all.
    func jobs(_ filter: JobFilter, withEvents: Bool) async throws -> (total: Int, jobs: [LogEntry]) {
        var conditions: [String] = []
        var parameters: [String?] = []
        func add(_ condition: String, _ value: String?) {
            guard let value else { return }
            parameters.append(value)
            conditions.append(condition.replacingOccurrences(of: "?", with: "$\(parameters.count)"))
        }
        add("status = ?", filter.status)
        add("job_type = ?", filter.type)
        add("request_id = ?", filter.request)
        add("created_at >= ?::timestamptz", filter.from)
        add("created_at <= ?::timestamptz", filter.to)
        let clause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let total = try await postgres.query("SELECT count(*) FROM jobs \(clause)", parameters)
        let rows = try await postgres.query(
            """
            SELECT job_id, job_type, status, created_at, started_at, completed_at, result::text, error_message,
                attempts, max_attempts, request_id, host FROM jobs \(clause)
            ORDER BY updated_at DESC LIMIT \(filter.pageSize) OFFSET \((filter.page - 1) * filter.pageSize)
            """, parameters)
        var jobs: [LogEntry] = []
        for index in 0..<rows.count {
            let events = withEvents ? try await self.events(type: rows[index, "job_type"] ?? "", id: rows[index, "job_id"] ?? "") : []
            jobs.append(LogEntry(job: JobView(rows, index), requestId: rows[index, "request_id"], events: events))
        }
        return (Int(total[0, "count"] ?? "0") ?? 0, jobs)
    }

    /// One job with its event log, or nil.
    func job(type: String, id: String) async throws -> LogEntry? {
        let rows = try await postgres.query(
            """
            SELECT job_id, job_type, status, created_at, started_at, completed_at, result::text, error_message,
                attempts, max_attempts, request_id, host FROM jobs WHERE job_type = $1 AND job_id = $2
            """, [type, id])
        guard rows.count == 1 else { return nil }
        return LogEntry(job: JobView(rows, 0), requestId: rows[0, "request_id"], events: try await events(type: type, id: id))
    }

    /// A job's event log, oldest first.
    func events(type: String, id: String) async throws -> [EventView] {
        let events = try await postgres.query(
            """
            SELECT level, context, message, metadata::text, created_at FROM job_events
            WHERE job_type = $1 AND job_id = $2 ORDER BY created_at, id
            """, [type, id])
        return (0..<events.count).map { event in
            EventView(
                level: events[event, "level"] ?? "", context: events[event, "context"] ?? "",
                message: events[event, "message"] ?? "", metadata: events[event, "metadata"],
                createdAt: events[event, "created_at"] ?? "")
        }
    }

    /// The requests most recently changed first.
    func requests(limit: Int = 200) async throws -> [RequestRecord] {
        let rows = try await postgres.query(
            "SELECT \(RequestLedger.columns) FROM requests ORDER BY updated_at DESC, id LIMIT $1", [String(limit)])
        return try (0..<rows.count).map { index throws(RequestLedgerError) in try RequestLedger.record(rows, index) }
    }

    /// The jobs running now, by job type and host (every host's, from the history).
    func runningByHost() async throws -> [(jobType: String, host: String, count: Int)] {
        let rows = try await postgres.query(
            "SELECT job_type, coalesce(host, '?') AS host, count(*) FROM jobs WHERE status = 'active' GROUP BY 1, 2 ORDER BY 1, 2")
        return (0..<rows.count).map { (rows[$0, "job_type"] ?? "", rows[$0, "host"] ?? "", Int(rows[$0, "count"] ?? "0") ?? 0) }
    }
}
