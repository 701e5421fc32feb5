import Foundation
import Logging

/// Fires the job types that have a schedule in pipeline.yaml.
///
/// Schedules live in `scheduled_jobs`. Each host checks every second (or at
/// the next due time, if sooner) and **claims** a due firing with one
/// conditional UPDATE that moves `next_run_at` past now: PostgreSQL lets one
/// host win, so every firing happens once, however many hosts run. The next
/// run is computed from now, not from the missed one, so after downtime a
/// schedule runs once, not once per missed tick. The job it adds has an id
/// made from the schedule and the tick, so adding it twice adds one job.
public final class Scheduler: Sendable {
    let client: PostgresClient
    let runtime: PipelineRuntime
    let logger: Logger

    init(client: PostgresClient, runtime: PipelineRuntime, logger: Logger) {
        self.client = client
        self.runtime = runtime
        self.logger = logger
    }

    /// A schedule as `scheduled_jobs` holds it.
    public struct Entry: Sendable, Hashable, Codable {
        public var name: String
        public var jobType: String
        public var kind: String
        public var expression: String
        public var enabled: Bool
        public var lastRunAt: String?
        public var lastRunJobID: String?
        public var nextRunAt: String?
    }

    /// Writes pipeline.yaml's schedules into `scheduled_jobs`: new ones are
    /// added (due at their first tick), changed ones take the new expression
    /// and are due at its next tick; `enabled` set by an operator stays.
    func synchronize() async throws(PostgresError) {
        // A schedule no longer in pipeline.yaml stops firing (its row stays, disabled, for its history).
        let names = runtime.configuration.jobs.filter { $0.schedule != nil }.map(\.name)
        try await client.query(
            "UPDATE scheduled_jobs SET enabled = false, updated_at = now() WHERE enabled AND NOT (name = ANY($1::text[]))",
            ["{" + names.map { "\"\($0)\"" }.joined(separator: ",") + "}"])
        for job in runtime.configuration.jobs {
            guard let schedule = job.schedule else { continue }
            let (kind, expression) = Self.describe(schedule.trigger)
            let next = Self.next(after: Date(), schedule.trigger)
            try await client.query(
                """
                INSERT INTO scheduled_jobs (name, job_type, kind, expression, enabled, payload, next_run_at)
                VALUES ($1, $1, $2, $3, $4, $5::jsonb, $6::timestamptz)
                ON CONFLICT (name) DO UPDATE SET kind = EXCLUDED.kind, expression = EXCLUDED.expression,
                    payload = EXCLUDED.payload, updated_at = now(),
                    next_run_at = CASE WHEN scheduled_jobs.expression = EXCLUDED.expression
                                        AND scheduled_jobs.kind = EXCLUDED.kind
                                       THEN scheduled_jobs.next_run_at ELSE EXCLUDED.next_run_at END
                """,
                [job.name, kind, expression, schedule.enabled ? "true" : "false", schedule.payloadJSON, HistoryWriter.time(next)])
        }
    }

    /// Checks for due schedules every second until cancelled.
    func run() async {
        var synchronized = false
        while !Task.isCancelled {
            do {
                if !synchronized {
                    try await synchronize()
                    synchronized = true
                }
                try await fireDue()
            } catch {
                logger.warning("scheduler: PostgreSQL unavailable; schedules wait", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    /// Fires every schedule that is due and that this host wins the claim on.
    /// Returns the job ids it added.
    @discardableResult
    public func fireDue(now: Date = Date()) async throws(PostgresError) -> [String] {
        let due = try await client.query(
            "SELECT name, kind, expression, next_run_at FROM scheduled_jobs WHERE enabled AND next_run_at <= $1::timestamptz",
            [HistoryWriter.time(now)])
        var fired: [String] = []
        for index in 0..<due.count {
            guard let name = due[index, "name"], runtime.configuration.job(named: name)?.schedule != nil, let trigger = Self.trigger(due[index, "kind"], due[index, "expression"]),
                let dueAt = due[index, "next_run_at"]
            else { continue }
            if let id = try await claimAndFire(name, trigger: trigger, dueAt: dueAt, now: now) { fired.append(id) }
        }
        return fired
    }

    /// Fires schedule `name` now, whatever its next run (the operator's
    /// "trigger now"); returns the job id.
    public func trigger(_ name: String) async throws(PostgresError) -> String? {
        let rows = try await client.query("SELECT kind, expression, next_run_at FROM scheduled_jobs WHERE name = $1", [name])
        guard rows.count == 1, let trigger = Self.trigger(rows[0, "kind"], rows[0, "expression"]) else { return nil }
        let id = "manual-\(name)-\(JobQueue.nowMilliseconds)"
        guard let added = try? await runtime.enqueue(name, payloadJSON: payload(name) ?? "{}", adjust: { $0.jobID = id }) else {
            return nil
        }
        let next = Self.next(after: Date(), trigger)
        try await client.query(
            "UPDATE scheduled_jobs SET last_run_at = now(), last_run_job_id = $2, next_run_at = $3::timestamptz, updated_at = now() WHERE name = $1",
            [name, added, HistoryWriter.time(next)])
        return added
    }

    /// Turns schedule `name` on or off; returns false if there is none.
    public func setEnabled(_ name: String, _ enabled: Bool) async throws(PostgresError) -> Bool {
        try await client.query(
            "UPDATE scheduled_jobs SET enabled = $2, updated_at = now() WHERE name = $1 RETURNING name",
            [name, enabled ? "true" : "false"]).count == 1
    }

    /// Gives schedule `name` a new expression: a 5-field cron expression, or
    /// `every <duration>`; due at its next tick. False if there is none.
    ///
    /// - Throws: ``AdminError`` (400) for an expression that does not parse.
    public func setSchedule(_ name: String, _ text: String) async throws -> Bool {
        let trigger: JobSchedule.Trigger
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("every ") {
            guard case .success(let interval) = DurationSyntax.parse(String(trimmed.dropFirst(6))), interval >= .seconds(1) else {
                throw AdminError(.badRequest, "schedule '\(text)': write 'every 5m' (at least 1s) or a 5-field cron expression")
            }
            trigger = .every(interval)
        } else {
            do {
                trigger = .cron(try CronExpression(parsing: trimmed))
            } catch {
                throw AdminError(.badRequest, "schedule: \(error)")
            }
        }
        let (kind, expression) = Self.describe(trigger)
        return try await client.query(
            """
            UPDATE scheduled_jobs SET kind = $2, expression = $3, next_run_at = $4::timestamptz, updated_at = now()
            WHERE name = $1 RETURNING name
            """, [name, kind, expression, HistoryWriter.time(Self.next(after: Date(), trigger))]).count == 1
    }

    /// Every schedule.
    public func entries() async throws(PostgresError) -> [Entry] {
        let rows = try await client.query(
            """
            SELECT name, job_type, kind, expression, enabled, last_run_at, last_run_job_id, next_run_at
            FROM scheduled_jobs ORDER BY name
            """)
        return (0..<rows.count).map { index in
            Entry(
                name: rows[index, "name"] ?? "", jobType: rows[index, "job_type"] ?? "", kind: rows[index, "kind"] ?? "",
                expression: rows[index, "expression"] ?? "", enabled: rows[index, "enabled"] == "t",
                lastRunAt: rows[index, "last_run_at"], lastRunJobID: rows[index, "last_run_job_id"],
                nextRunAt: rows[index, "next_run_at"])
        }
    }

    private func claimAndFire(_ name: String, trigger: JobSchedule.Trigger, dueAt: String, now: Date)
        async throws(PostgresError) -> String?
    {
        let next = Self.next(after: now, trigger)
        // The claim: only the host whose UPDATE still sees the old next_run_at wins.
        let claimed = try await client.query(
            """
            UPDATE scheduled_jobs SET next_run_at = $3::timestamptz, last_run_at = $4::timestamptz, updated_at = now()
            WHERE name = $1 AND enabled AND next_run_at = $2::timestamptz RETURNING name
            """, [name, dueAt, HistoryWriter.time(next), HistoryWriter.time(now)])
        guard claimed.count == 1 else { return nil }
        let tick = dueAt.filter { $0.isNumber }
        let jobID = "sched-\(name)-\(tick)"
        do {
            let added = try await runtime.enqueue(name, payloadJSON: payload(name) ?? "{}", adjust: { $0.jobID = jobID })
            try await client.query("UPDATE scheduled_jobs SET last_run_job_id = $2 WHERE name = $1", [name, added])
            logger.info("schedule fired", metadata: ["schedule": "\(name)", "job_id": "\(added)"])
            return added
        } catch let error as PostgresError {
            throw error
        } catch {
            // Give the tick back: the next check fires it again, with the same job id.
            logger.warning("schedule due but its job could not be added yet", metadata: ["schedule": "\(name)", "error": "\(error)"])
            try await client.query(
                "UPDATE scheduled_jobs SET next_run_at = $2::timestamptz WHERE name = $1", [name, dueAt])
            return nil
        }
    }

    private func payload(_ name: String) -> String? {
        runtime.configuration.job(named: name)?.schedule?.payloadJSON
    }

    static func describe(_ trigger: JobSchedule.Trigger) -> (kind: String, expression: String) {
        switch trigger {
        case .cron(let expression): return ("cron", expression.source)
        case .every(let interval): return ("every", DurationSyntax.format(interval))
        }
    }

    static func trigger(_ kind: String?, _ expression: String?) -> JobSchedule.Trigger? {
        guard let kind, let expression else { return nil }
        if kind == "cron" { return (try? CronExpression(parsing: expression)).map { .cron($0) } }
        guard case .success(let interval) = DurationSyntax.parse(expression) else { return nil }
        return .every(interval)
    }

    static func next(after date: Date, _ trigger: JobSchedule.Trigger) -> Date {
        switch trigger {
        case .cron(let expression):
            return expression.nextFireDate(after: date) ?? date.addingTimeInterval(366 * 86_400)
        case .every(let interval):
            return date.addingTimeInterval(Double(interval.milliseconds) / 1000)
        }
    }
}
