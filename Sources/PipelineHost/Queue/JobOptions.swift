import Foundation
import PipelineJSON

/// A job's options as BullMQ stores them in its hash's `opts` field.
///
/// The host writes every option it relies on when it adds a job, and reads
/// them back when it takes one; a job added by another BullMQ client may
/// leave some out, and then the job type's settings in pipeline.yaml apply.
public struct JobOptions: Sendable, Hashable {
    /// Attempts in all; `nil` (or BullMQ's 0) leaves it to the job type.
    public var attempts: Int?
    public var backoff: Backoff?
    public var delay: Duration
    public var priority: Int
    /// Taken next instead of last (BullMQ's `lifo`).
    public var lifo: Bool
    /// A custom job id; never all digits, never with ':'.
    public var jobID: String?
    public var removeOnComplete: RetentionRule?
    public var removeOnFail: RetentionRule?

    public init(
        attempts: Int? = nil, backoff: Backoff? = nil, delay: Duration = .zero, priority: Int = 0, lifo: Bool = false,
        jobID: String? = nil, removeOnComplete: RetentionRule? = nil, removeOnFail: RetentionRule? = nil
    ) {
        self.attempts = attempts
        self.backoff = backoff
        self.delay = delay
        self.priority = priority
        self.lifo = lifo
        self.jobID = jobID
        self.removeOnComplete = removeOnComplete
        self.removeOnFail = removeOnFail
    }

    /// The options a job type's settings give its jobs.
    public init(for job: JobTypeConfiguration) {
        self.init(
            attempts: job.attempts, backoff: job.backoff, delay: job.delay, priority: job.priority.value,
            removeOnComplete: job.retention.completed, removeOnFail: job.retention.failed)
    }

    /// The `opts` JSON, with BullMQ's field names.
    public var json: String {
        var object: [String: JSONValue] = ["attempts": .int(Int64(attempts ?? 0)), "delay": .int(delay.milliseconds)]
        if let backoff {
            var value: [String: JSONValue] = [
                "type": .string(backoff.strategy.rawValue), "delay": .int(backoff.delay.milliseconds),
            ]
            if backoff.jitter > 0 { value["jitter"] = .double(backoff.jitter) }
            if let limit = backoff.limit { value["max"] = .int(limit.milliseconds) }
            object["backoff"] = .object(value)
        }
        if priority > 0 { object["priority"] = .int(Int64(priority)) }
        if lifo { object["lifo"] = true }
        if let jobID { object["jobId"] = .string(jobID) }
        if let removeOnComplete { object["removeOnComplete"] = Self.encode(removeOnComplete) }
        if let removeOnFail { object["removeOnFail"] = Self.encode(removeOnFail) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try! encoder.encode(JSONValue.object(object)), as: UTF8.self)
    }

    private static func encode(_ rule: RetentionRule) -> JSONValue {
        switch (rule.count, rule.age) {
        case (nil, nil): return false
        case (let count?, nil): return .int(Int64(count))
        default:
            var object: [String: JSONValue] = [:]
            if let count = rule.count { object["count"] = .int(Int64(count)) }
            if let age = rule.age { object["age"] = .int(age.milliseconds / 1000) }
            return .object(object)
        }
    }

    /// Reads an `opts` JSON written by any BullMQ client; what it cannot read
    /// is left unset.
    public init(json: String) {
        self.init()
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(json.utf8)), let object = value.objectValue
        else { return }
        if let attempts = object["attempts"]?.intValue, attempts > 0 { self.attempts = Int(attempts) }
        if let delay = object["delay"]?.intValue { self.delay = .milliseconds(delay) }
        priority = Int(object["priority"]?.intValue ?? 0)
        if case .bool(let flag)? = object["lifo"] { lifo = flag }
        jobID = object["jobId"]?.stringValue
        if let number = object["backoff"]?.intValue {
            backoff = Backoff(strategy: .fixed, delay: .milliseconds(number))
        } else if let value = object["backoff"]?.objectValue {
            let strategy = Backoff.Strategy(rawValue: value["type"]?.stringValue ?? "fixed") ?? .fixed
            backoff = Backoff(
                strategy: strategy, delay: .milliseconds(value["delay"]?.intValue ?? 0),
                jitter: min(1, max(0, value["jitter"]?.doubleValue ?? 0)),
                limit: value["max"]?.intValue.map { .milliseconds($0) })
        }
        removeOnComplete = Self.rule(object["removeOnComplete"])
        removeOnFail = Self.rule(object["removeOnFail"])
    }

    private static func rule(_ value: JSONValue?) -> RetentionRule? {
        switch value {
        case .bool(true)?: return RetentionRule(count: 0)
        case .bool(false)?: return RetentionRule()
        case .object(let object)?:
            return RetentionRule(count: object["count"]?.intValue.map { Int($0) }, age: object["age"]?.intValue.map { .seconds($0) })
        case let number?:
            return number.intValue.map { RetentionRule(count: Int($0)) }
        case nil:
            return nil
        }
    }
}

extension Duration {
    /// Whole milliseconds.
    public var milliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}
