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

    /// Reads an `opts` JSON written by any BullMQ client. Options the host
    /// does not use are ignored, and an absent one is left unset; an option
    /// the host uses but cannot honour (a number out of ``JobLimits``' ranges,
    /// a wrong type) is an error that names it, so that the job fails alone.
    public init(json: String) throws(InvalidJobOptions) {
        self.init()
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(json.utf8)), let object = value.objectValue else {
            throw InvalidJobOptions(option: "opts", problem: "is not a JSON object")
        }
        let reader = OptionReader(object: object)
        if let attempts = try reader.integer("attempts", in: 0...JobLimits.maximumAttempts, unit: "attempts"), attempts > 0 {
            self.attempts = Int(attempts)
        }
        delay = .milliseconds(try reader.integer("delay", in: 0...JobLimits.maximumDelayMilliseconds, unit: "ms") ?? 0)
        priority = Int(try reader.integer("priority", in: 0...Int64(JobPriority.maximum), unit: "") ?? 0)
        lifo = try reader.boolean("lifo") ?? false
        if let id = try reader.string("jobId") {
            if let problem = JobLimits.problem(withJobID: id) {
                throw InvalidJobOptions(option: "jobId", problem: problem)
            }
            jobID = id
        }
        backoff = try Self.backoff(object["backoff"])
        removeOnComplete = try Self.rule(object["removeOnComplete"], option: "removeOnComplete")
        removeOnFail = try Self.rule(object["removeOnFail"], option: "removeOnFail")
    }

    private static func backoff(_ value: JSONValue?) throws(InvalidJobOptions) -> Backoff? {
        switch value {
        case nil, .null?:
            return nil
        case .object(let object)?:
            let reader = OptionReader(object: object, path: "backoff.")
            let name = try reader.string("type") ?? "fixed"
            guard let strategy = Backoff.Strategy(rawValue: name) else {
                throw InvalidJobOptions(
                    option: "backoff.type",
                    problem: "'\(name.prefix(64))' is not a strategy this host runs (fixed, exponential)")
            }
            let delay = try reader.integer("delay", in: 0...JobLimits.maximumDelayMilliseconds, unit: "ms") ?? 0
            let jitter = try reader.number("jitter", in: 0...1) ?? 0
            let limit = try reader.integer("max", in: 0...JobLimits.maximumDelayMilliseconds, unit: "ms")
            return Backoff(strategy: strategy, delay: .milliseconds(delay), jitter: jitter, limit: limit.map { .milliseconds($0) })
        case let number?:
            guard let milliseconds = number.intValue else {
                throw InvalidJobOptions(option: "backoff", problem: "is neither a number of ms nor an object")
            }
            guard (0...JobLimits.maximumDelayMilliseconds).contains(milliseconds) else {
                throw InvalidJobOptions(option: "backoff", problem: OptionReader.outOfRange(milliseconds, 0...JobLimits.maximumDelayMilliseconds, "ms"))
            }
            return Backoff(strategy: .fixed, delay: .milliseconds(milliseconds))
        }
    }

    private static func rule(_ value: JSONValue?, option: String) throws(InvalidJobOptions) -> RetentionRule? {
        switch value {
        case nil, .null?: return nil
        case .bool(true)?: return RetentionRule(count: 0)
        case .bool(false)?: return RetentionRule()
        case .object(let object)?:
            let reader = OptionReader(object: object, path: option + ".")
            let count = try reader.integer("count", in: 0...JobLimits.maximumRetentionCount, unit: "jobs")
            let age = try reader.integer("age", in: 0...JobLimits.maximumRetentionAgeSeconds, unit: "s")
            return RetentionRule(count: count.map { Int($0) }, age: age.map { .seconds($0) })
        case let number?:
            guard let count = number.intValue else {
                throw InvalidJobOptions(option: option, problem: "is neither true, false, a count nor an object")
            }
            guard (0...JobLimits.maximumRetentionCount).contains(count) else {
                throw InvalidJobOptions(option: option, problem: OptionReader.outOfRange(count, 0...JobLimits.maximumRetentionCount, "jobs"))
            }
            return RetentionRule(count: Int(count))
        }
    }
}

/// An option of a job that the host cannot honour.
public struct InvalidJobOptions: Error, Sendable, Hashable, CustomStringConvertible {
    /// The option's path in `opts`: `removeOnComplete.age`.
    public var option: String
    public var problem: String

    public var description: String { "job option opts.\(option) \(problem)" }
}

/// Reads typed, range-checked members of one `opts` object.
private struct OptionReader {
    var object: [String: JSONValue]
    var path = ""

    func integer(_ key: String, in range: ClosedRange<Int64>, unit: String) throws(InvalidJobOptions) -> Int64? {
        guard let value = object[key], value != .null else { return nil }
        guard let number = value.intValue else {
            guard let real = value.doubleValue else { throw InvalidJobOptions(option: path + key, problem: "is not a number") }
            throw InvalidJobOptions(
                option: path + key, problem: "\(real) is not a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        guard range.contains(number) else {
            throw InvalidJobOptions(option: path + key, problem: Self.outOfRange(number, range, unit))
        }
        return number
    }

    func number(_ key: String, in range: ClosedRange<Double>) throws(InvalidJobOptions) -> Double? {
        guard let value = object[key], value != .null else { return nil }
        guard let number = value.doubleValue, number.isFinite else {
            throw InvalidJobOptions(option: path + key, problem: "is not a number")
        }
        guard range.contains(number) else {
            throw InvalidJobOptions(option: path + key, problem: "\(number) is outside \(range.lowerBound)…\(range.upperBound)")
        }
        return number
    }

    func boolean(_ key: String) throws(InvalidJobOptions) -> Bool? {
        switch object[key] {
        case nil, .null?: return nil
        case .bool(let flag)?: return flag
        default: throw InvalidJobOptions(option: path + key, problem: "is not true or false")
        }
    }

    func string(_ key: String) throws(InvalidJobOptions) -> String? {
        switch object[key] {
        case nil, .null?: return nil
        case .string(let text)?: return text
        default: throw InvalidJobOptions(option: path + key, problem: "is not a string")
        }
    }

    static func outOfRange(_ number: Int64, _ range: ClosedRange<Int64>, _ unit: String) -> String {
        "\(number) is outside \(range.lowerBound)…\(range.upperBound)\(unit.isEmpty ? "" : " " + unit)"
    }
}

