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

    /// The highest page number a link may ask for.
    static let maximumPage = 100_000
    /// The most jobs on one page.
    static let maximumPageSize = 200

    /// From query parameters (`status`, `type`, `request`, `from`, `to`,
    /// `page`, `pageSize`); empty ones are no filter.
    ///
    /// - Throws: ``AdminError`` (400) for a page or page size that is not a
    ///   whole number in range, a date PostgreSQL would not read, or a value
    ///   longer than any real one; the message names the parameter.
    init(_ query: FlatDictionary<Substring, Substring>) throws(AdminError) {
        func value(_ name: String) throws(AdminError) -> String? {
            guard let raw = query[Substring(name)] else { return nil }
            let text = raw.trimmingCharacters(in: .whitespaces)
            guard text.utf8.count <= 200 else { throw AdminError(.badRequest, "\(name) is longer than 200 bytes") }
            return text.isEmpty ? nil : text
        }
        func number(_ name: String, in range: ClosedRange<Int>, default fallback: Int) throws(AdminError) -> Int {
            guard let text = try value(name) else { return fallback }
            guard let number = Int(text), range.contains(number) else {
                throw AdminError(
                    .badRequest, "\(name) must be a whole number from \(range.lowerBound) to \(range.upperBound), not '\(text.prefix(40))'")
            }
            return number
        }
        func date(_ name: String) throws(AdminError) -> String? {
            guard let text = try value(name) else { return nil }
            guard text.wholeMatch(of: /\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}(:?\d{2})?)?)?/) != nil else {
                throw AdminError(.badRequest, "\(name) must be a date such as 2026-11-29 or 2026-11-29T12:00:00Z, not '\(text.prefix(40))'")
            }
            let parts = text.prefix(10).split(separator: "-").compactMap { Int($0) }
            guard parts.count == 3, (1...12).contains(parts[1]), (1...31).contains(parts[2]) else {
                throw AdminError(.badRequest, "\(name) names no day of the calendar: '\(text.prefix(40))'")
            }
            return text
        }
        status = try value("status")
        type = try value("type")
        request = try value("request")
        from = try date("from")
        to = try date("to")
        page = try number("page", in: 1...Self.maximumPage, default: 1)
        pageSize = try number("pageSize", in: 1...Self.maximumPageSize, default: 50)
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
