import Foundation
import Logging
import Synchronization

/// One state of a job, for its `jobs` row.
public struct JobStateRecord: Sendable {
    public enum Status: String, Sendable {
        case pending, delayed, active, completed, failed, stuck, cancelled
    }

    public var jobType: String
    public var jobID: String
    public var status: Status
    /// The run the state belongs to (BullMQ's attempts started, 0 before the first).
    public var run: Int
    /// The order of states within a run: queued 1, active 2, finished 3.
    public var rank: Int
    public var requestID: String?
    public var attempts: Int?
    public var maxAttempts: Int?
    public var priority: Int?
    public var payloadJSON: String?
    public var resultJSON: String?
    public var errorMessage: String?
    /// Details of the failure (the plugin's JSON details), for `error_stack`.
    public var errorStack: String?
    public var host: String?
    public var startedAt: Date?
    public var completedAt: Date?
    public var at = Date()
}

/// One line of a job's event log (`job_events`).
public struct JobEventRecord: Sendable {
    public var jobType: String
    public var jobID: String
    public var run: Int
    /// Unique within the run: plugin lines count from 1, the host's own events
    /// use fixed negative numbers, so a retried batch writes nothing twice.
    public var sequence: Int
    public var level: PluginLogEvent.Level
    public var context: String
    public var message: String
    public var metadataJSON: String?
    public var at = Date()
}

/// Writes job history to PostgreSQL in batches, off the queue's hot path.
///
/// ``record(_:_:)`` only appends to a buffer. A flush every 100 ms writes the
/// buffer in one transaction: job states
/// as one upsert that never moves a row back to an earlier (run, rank), and
/// events as one insert that ignores rows it already wrote. While PostgreSQL
/// is unreachable the buffer keeps growing, with a warning, and is written
/// once it answers again; past ``capacity`` records, ``record(_:)`` waits
/// for room rather than dropping anything.
public final class HistoryWriter: Sendable {
    private let client: PostgresClient
    private let logger: Logger
    public let capacity: Int
    private let buffer = Mutex<(states: [JobStateRecord], events: [JobEventRecord], warned: Bool)>(([], [], false))
    private let written = Atomic<Int>(0)

    public init(client: PostgresClient, capacity: Int = 200_000, logger: Logger) {
        self.client = client
        self.capacity = capacity
        self.logger = logger
    }

    /// Records written to PostgreSQL so far.
    public var writtenCount: Int { written.load(ordering: .relaxed) }

    /// Records waiting to be written.
    public var pendingCount: Int { buffer.withLock { $0.states.count + $0.events.count } }

    public func record(_ states: [JobStateRecord], _ events: [JobEventRecord] = []) async {
        while pendingCount >= capacity {
            logger.error("history buffer full; the queue waits for PostgreSQL", metadata: ["pending": "\(pendingCount)"])
            try? await Task.sleep(for: .milliseconds(200))
        }
        buffer.withLock { buffer in
            buffer.states += states
            buffer.events += events
        }
    }

    /// Flushes every 100 ms until cancelled. What is left then is written by
    /// the host's last flush before it exits (from a task that is not
    /// cancelled), which says how many records, if any, could not be written.
    public func run() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(100))
            if Task.isCancelled { return }
            await flush()
        }
    }

    /// Writes what is buffered; on failure keeps it for the next try.
    @discardableResult
    public func flush() async -> Bool {
        let (states, events) = buffer.withLock { buffer in
            defer {
                buffer.states.removeAll(keepingCapacity: true)
                buffer.events.removeAll(keepingCapacity: true)
            }
            return (buffer.states, buffer.events)
        }
        guard !states.isEmpty || !events.isEmpty else { return true }
        let merged = Self.merge(states)
        do {
            try await client.transaction { transaction throws(PostgresError) in
                for chunk in stride(from: 0, to: merged.count, by: 500) {
                    try Self.upsert(Array(merged[chunk..<min(chunk + 500, merged.count)]), transaction)
                }
                for chunk in stride(from: 0, to: events.count, by: 500) {
                    try Self.insert(Array(events[chunk..<min(chunk + 500, events.count)]), transaction)
                }
            }
            written.add(states.count + events.count, ordering: .relaxed)
            let recovered = buffer.withLock { buffer -> Bool in
                defer { buffer.warned = false }
                return buffer.warned
            }
            if recovered { logger.notice("PostgreSQL is back; buffered history written") }
            return true
        } catch where !error.isConnectionFailure {
            // A record PostgreSQL refuses (bad JSON from another producer, say)
            // must not block the rest: write one by one, and drop, with a log
            // line, only what is refused.
            await writeIndividually(merged, events, after: error)
            return true
        } catch {
            let size = buffer.withLock { buffer -> Int in
                buffer.states.insert(contentsOf: states, at: 0)
                buffer.events.insert(contentsOf: events, at: 0)
                return buffer.states.count + buffer.events.count
            }
            // A flush refused because the host is stopping is no outage: the
            // last flush before exit writes these records, or counts them.
            if Task.isCancelled { return false }
            let first = buffer.withLock { buffer -> Bool in
                defer { buffer.warned = true }
                return !buffer.warned
            }
            if first {
                logger.warning(
                    "cannot write job history; buffering until PostgreSQL answers",
                    metadata: ["error": "\(error)", "buffered": "\(size)", "capacity": "\(capacity)"])
            }
            try? await Task.sleep(for: .milliseconds(400))
            return false
        }
    }

    private func writeIndividually(_ states: [JobStateRecord], _ events: [JobEventRecord], after error: PostgresError) async {
        logger.warning("a history batch was refused; writing its records one by one", metadata: ["error": "\(error)"])
        var dropped = 0
        for state in states {
            do {
                try await client.transaction { transaction throws(PostgresError) in try Self.upsert([state], transaction) }
            } catch where !error.isConnectionFailure {
                dropped += 1
                // Keep the state without the JSON PostgreSQL would not take.
                var bare = state
                bare.payloadJSON = nil
                bare.resultJSON = nil
                bare.errorStack = nil
                let stripped = bare
                if (try? await client.transaction({ transaction throws(PostgresError) in try Self.upsert([stripped], transaction) })) != nil {
                    logger.warning("job state written without its payload and result: PostgreSQL refused them",
                        metadata: ["job_type": "\(state.jobType)", "job_id": "\(state.jobID)", "error": "\(error)"])
                    continue
                }
                logger.error("job state dropped: PostgreSQL refused it",
                    metadata: ["job_type": "\(state.jobType)", "job_id": "\(state.jobID)", "error": "\(error)"])
            } catch {
                await record([state])
            }
        }
        for event in events {
            do {
                try await client.transaction { transaction throws(PostgresError) in try Self.insert([event], transaction) }
            } catch where !error.isConnectionFailure {
                dropped += 1
                logger.error("job event dropped: PostgreSQL refused it",
                    metadata: ["job_type": "\(event.jobType)", "job_id": "\(event.jobID)", "error": "\(error)"])
            } catch {
                await record([], [event])
            }
        }
        written.add(states.count + events.count - dropped, ordering: .relaxed)
    }

    /// JSON text PostgreSQL's jsonb takes: `\u0000` is valid JSON but refused there.
    static func jsonb(_ text: String?) -> String? {
        text.map { $0.replacingOccurrences(of: "\\u0000", with: "") }
    }

    /// One record per job: the latest (run, rank) state, with the earliest
    /// start and the fields later states leave empty filled from earlier ones.
    static func merge(_ states: [JobStateRecord]) -> [JobStateRecord] {
        var merged: [String: JobStateRecord] = [:]
        var order: [String] = []
        for state in states {
            let key = state.jobType + "\u{0}" + state.jobID
            guard let existing = merged[key] else {
                merged[key] = state
                order.append(key)
                continue
            }
            let later = (state.run, state.rank) >= (existing.run, existing.rank)
            var newer = later ? state : existing
            let older = later ? existing : state
            newer.requestID = newer.requestID ?? older.requestID
            newer.payloadJSON = newer.payloadJSON ?? older.payloadJSON
            newer.maxAttempts = newer.maxAttempts ?? older.maxAttempts
            newer.priority = newer.priority ?? older.priority
            newer.startedAt = newer.startedAt ?? older.startedAt
            merged[key] = newer
        }
        return order.compactMap { merged[$0] }
    }

    static let iso = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    static func time(_ date: Date?) -> String? { date.map { iso.format($0) } }

    private static func upsert(_ states: [JobStateRecord], _ transaction: PostgresTransaction) throws(PostgresError) {
        guard !states.isEmpty else { return }
        var values: [String] = []
        var parameters: [String?] = []
        for state in states {
            let base = parameters.count
            values.append("(" + (1...16).map { "$\(base + $0)" }.joined(separator: ", ") + ")")
            parameters += [
                state.jobType, state.jobID, state.requestID, state.status.rawValue, state.attempts.map(String.init) ?? "0",
                state.maxAttempts.map(String.init), state.priority.map(String.init) ?? "0", jsonb(state.payloadJSON),
                jsonb(state.resultJSON), state.errorMessage, state.host, time(state.startedAt), time(state.completedAt),
                String(state.run), String(state.rank), state.errorStack,
            ]
        }
        try transaction.execute(
            """
            INSERT INTO jobs (job_type, job_id, request_id, status, attempts, max_attempts, priority, payload, result,
                error_message, host, started_at, completed_at, last_run, last_rank, error_stack)
            SELECT v.job_type, v.job_id, v.request_id, v.status, v.attempts::integer, v.max_attempts::integer,
                v.priority::integer, v.payload::jsonb, v.result::jsonb, v.error_message, v.host,
                v.started_at::timestamptz, v.completed_at::timestamptz, v.last_run::integer, v.last_rank::integer,
                v.error_stack
            FROM (VALUES \(values.joined(separator: ", "))) AS v (job_type, job_id, request_id, status, attempts,
                max_attempts, priority, payload, result, error_message, host, started_at, completed_at, last_run, last_rank,
                error_stack)
            ON CONFLICT (job_type, job_id) DO UPDATE SET
                status = EXCLUDED.status,
                attempts = GREATEST(jobs.attempts, EXCLUDED.attempts),
                max_attempts = COALESCE(EXCLUDED.max_attempts, jobs.max_attempts),
                request_id = COALESCE(EXCLUDED.request_id, jobs.request_id),
                payload = COALESCE(EXCLUDED.payload, jobs.payload),
                result = COALESCE(EXCLUDED.result, jobs.result),
                error_message = CASE WHEN EXCLUDED.status = 'completed' THEN NULL
                                     ELSE COALESCE(EXCLUDED.error_message, jobs.error_message) END,
                error_stack = CASE WHEN EXCLUDED.status = 'completed' THEN NULL
                                   ELSE COALESCE(EXCLUDED.error_stack, jobs.error_stack) END,
                host = COALESCE(EXCLUDED.host, jobs.host),
                started_at = COALESCE(jobs.started_at, EXCLUDED.started_at),
                completed_at = COALESCE(EXCLUDED.completed_at, jobs.completed_at),
                last_run = EXCLUDED.last_run, last_rank = EXCLUDED.last_rank, updated_at = now()
            WHERE (jobs.last_run, jobs.last_rank) <= (EXCLUDED.last_run, EXCLUDED.last_rank)
            """, parameters)
    }

    private static func insert(_ events: [JobEventRecord], _ transaction: PostgresTransaction) throws(PostgresError) {
        guard !events.isEmpty else { return }
        var values: [String] = []
        var parameters: [String?] = []
        for event in events {
            let base = parameters.count
            values.append("(" + (1...9).map { "$\(base + $0)" }.joined(separator: ", ") + ")")
            parameters += [
                event.jobType, event.jobID, String(event.run), String(event.sequence),
                event.level == .debug ? "info" : event.level.rawValue, event.context, event.message, jsonb(event.metadataJSON),
                time(event.at),
            ]
        }
        try transaction.execute(
            """
            INSERT INTO job_events (job_type, job_id, run, sequence, level, context, message, metadata, created_at)
            SELECT v.job_type, v.job_id, v.run::integer, v.sequence::integer, v.level, v.context, v.message,
                v.metadata::jsonb, v.created_at::timestamptz
            FROM (VALUES \(values.joined(separator: ", "))) AS v (job_type, job_id, run, sequence, level, context, message,
                metadata, created_at)
            ON CONFLICT (job_type, job_id, run, sequence) DO NOTHING
            """, parameters)
    }
}
