import CoreMetrics
import Foundation
import Logging
import Synchronization

/// What a worker does while its queue's finish-and-take script keeps
/// failing with an error that reconnecting does not cure (a key of the queue
/// holding the wrong type, say): it says so in the log (the first failure,
/// then every 30th), counts each in `pipeline_queue_script_errors_total`,
/// keeps the last error for the queues page and backs off, from 200 ms
/// doubling to 30 s, instead of retrying five times a second in silence.
final class ScriptFailures: Sendable {
    /// The failure in force, for the queues page and the metrics.
    struct Snapshot: Sendable {
        /// Failures in a row.
        var count: Int
        /// The Redis error, with what to do about it.
        var message: String
        var since: Date
    }

    private let state = Mutex<Snapshot?>(nil)
    private let queue: JobQueue
    private let logger: Logger
    private let counter: CoreMetrics.Counter?

    init(queue: JobQueue, logger: Logger, metrics: RuntimeMetrics?, jobType: String) {
        self.queue = queue
        self.logger = logger
        counter = metrics.map {
            CoreMetrics.Counter(label: "pipeline_queue_script_errors_total", dimensions: [("job_type", jobType)], factory: $0.factory)
        }
    }

    var current: Snapshot? { state.withLock { $0 } }

    /// Records a failure and returns how long to wait before trying again.
    func record(_ error: RedisError) -> Duration {
        let message = Self.explain(error, queue: queue)
        let count = state.withLock { state -> Int in
            let count = (state?.count ?? 0) + 1
            state = Snapshot(count: count, message: message, since: state?.since ?? Date())
            return count
        }
        counter?.increment()
        if count == 1 || count % 30 == 0 {
            logger.error(
                "the queue's script fails; this job type takes no jobs until it works again",
                metadata: ["queue": "\(queue.keyPrefix)", "error": "\(message)", "failures_in_a_row": "\(count)"])
        }
        return Self.backoff(afterFailures: count)
    }

    /// Forgets the failures; true if there were any.
    func clear() -> Bool {
        state.withLock { state in
            defer { state = nil }
            return state != nil
        }
    }

    /// 200 ms, doubling with each failure in a row, at most 30 s.
    static func backoff(afterFailures count: Int) -> Duration {
        .milliseconds(min(30_000, Int64(200) << Int64(min(max(count - 1, 0), 8))))
    }

    /// The error, with a hint when it has a known cause.
    static func explain(_ error: RedisError, queue: JobQueue) -> String {
        let text = error.description
        guard text.contains("WRONGTYPE") else { return text }
        return text
            + " (a key of this queue holds the wrong type, most likely a job added by another producer with an id equal"
            + " to one of the queue's key names such as 'wait' or 'active': find it with redis-cli TYPE \(queue.keyPrefix)<name>"
            + " for each of " + JobLimits.reservedJobIDs.sorted().joined(separator: ", ")
            + ", and delete the hash that stands where a list, set or sorted set belongs)"
    }
}
