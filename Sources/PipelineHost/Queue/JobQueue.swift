import Foundation

/// One BullMQ queue: the jobs of one job type, under `<prefix>:<job type>:`.
public final class JobQueue: Sendable {
    public let name: String
    /// `<prefix>:<name>:`, which every key of the queue starts with.
    public let keyPrefix: String
    let client: RedisClient

    public init(name: String, prefix: String, client: RedisClient) {
        self.name = name
        keyPrefix = "\(prefix):\(name):"
        self.client = client
    }

    public func key(_ suffix: String) -> String { keyPrefix + suffix }

    private var addKeys: [String] {
        ["wait", "meta", "id", "delayed", "prioritized", "pc", "events", "marker", "active"].map(key)
    }

    var workKeys: [String] { QueueScripts.workKeyNames.map(key) }

    static var nowMilliseconds: Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }

    // MARK: - Adding

    /// Adds a job and returns its id.
    ///
    /// - Parameters:
    ///   - name: the BullMQ job name (the job type, for jobs the host adds).
    ///   - dataJSON: the payload, a JSON object.
    public func add(name: String? = nil, dataJSON: String, options: JobOptions = JobOptions()) async throws(QueueError)
        -> String
    {
        try Self.check(options)
        do {
            let reply = try await client.run(QueueScripts.add, keys: addKeys, arguments: addArguments(name, dataJSON, options))
            guard let id = reply.text else { throw QueueError.unexpected("add returned \(reply)") }
            return id
        } catch let error as RedisError {
            throw .redis(error)
        } catch let error as QueueError {
            throw error
        } catch {
            throw .unexpected("\(error)")
        }
    }

    /// Adds many jobs in one round trip (one script call each, pipelined) and
    /// returns their ids in order.
    public func addBulk(_ jobs: [(name: String?, dataJSON: String, options: JobOptions)]) async throws(QueueError) -> [String] {
        for job in jobs { try Self.check(job.options) }
        let keys = addKeys
        let calls = jobs.map { (QueueScripts.add, keys: keys, arguments: addArguments($0.name, $0.dataJSON, $0.options)) }
        do {
            return try await client.runPipelined(calls).map { $0.text ?? "" }
        } catch {
            throw .redis(error)
        }
    }

    private func addArguments(_ jobName: String?, _ dataJSON: String, _ options: JobOptions) -> [String] {
        [
            keyPrefix, options.jobID ?? "", jobName ?? name, dataJSON, options.json, String(Self.nowMilliseconds),
            String(options.delay.milliseconds), String(options.priority), options.lifo ? "1" : "0",
        ]
    }

    /// Refuses options no job may carry: a custom id that is not a usable
    /// key name, a priority or delay out of range.
    static func check(_ options: JobOptions) throws(QueueError) {
        if let id = options.jobID, let problem = JobLimits.problem(withJobID: id) {
            throw .invalidJob("job id \(problem)")
        }
        guard (0...JobPriority.maximum).contains(options.priority) else {
            throw .invalidJob("priority \(options.priority) is outside 0...\(JobPriority.maximum)")
        }
        guard options.delay >= .zero, options.delay <= JobLimits.maximumDelay else {
            throw .invalidJob("delay \(options.delay.milliseconds) ms is outside 0...\(JobLimits.maximumDelayMilliseconds) ms (ten years)")
        }
        if let attempts = options.attempts, !(1...JobLimits.maximumAttempts).contains(Int64(attempts)) {
            throw .invalidJob("attempts \(attempts) is outside 1...\(JobLimits.maximumAttempts)")
        }
    }

    // MARK: - Working

    /// Finishes `finishes` and takes up to `take` more jobs, in one call.
    func finishAndTake(_ finishes: [JobFinish], take: Int, tokenBase: String, lockDuration: Duration)
        async throws(RedisError) -> (codes: [Int], jobs: [TakenJob], nextDueMilliseconds: Int64)
    {
        var arguments = [
            keyPrefix, String(Self.nowMilliseconds), String(lockDuration.milliseconds), String(take), tokenBase,
            String(finishes.count),
        ]
        arguments.reserveCapacity(arguments.count + finishes.count * 9)
        for finish in finishes { arguments += finish.arguments }
        let reply = try await client.run(QueueScripts.finishAndTake, keys: workKeys, arguments: arguments)
        let items = reply.elements
        guard items.count >= 2 else { throw .protocolViolation("finishAndTake returned \(reply)") }
        let codes = items[1].elements.map { Int($0.int ?? 0) }
        var jobs: [TakenJob] = []
        var index = 2
        var position = 1
        while index + 1 < items.count {
            let id = items[index].text ?? ""
            jobs.append(TakenJob(id: id, token: "\(tokenBase):\(position)", fields: items[index + 1].fieldMap))
            index += 2
            position += 1
        }
        return (codes, jobs, items[0].int ?? 0)
    }

    /// Replaces the data of running job `id` while `token` holds its lock;
    /// false when it does not (nothing is written then).
    func replaceData(jobID id: String, dataJSON: String, token: String) async throws(RedisError) -> Bool {
        try await client.run(QueueScripts.replaceData, keys: [key(id), key(id + ":lock")], arguments: [dataJSON, token]).int == 1
    }

    /// Renews the locks of `jobs`; returns the ids whose lock another worker holds now.
    func extendLocks(_ jobs: [(id: String, token: String)], lockDuration: Duration) async throws(RedisError) -> [String] {
        guard !jobs.isEmpty else { return [] }
        var arguments = [keyPrefix, String(lockDuration.milliseconds)]
        for job in jobs { arguments += [job.id, job.token] }
        return try await client.run(QueueScripts.extendLocks, keys: [key("stalled"), key("active")], arguments: arguments).elements
            .compactMap(\.text)
    }

    /// Runs the stalled check if no host ran it within `interval`; returns the
    /// jobs put back in `wait`.
    func recoverStalled(interval: Duration, maxStalledCount: Int) async throws(RedisError) -> [String] {
        let keys = ["stalled", "wait", "active", "stalled-check", "meta", "marker", "events"].map(key)
        let arguments = [keyPrefix, String(Self.nowMilliseconds), String(interval.milliseconds), String(maxStalledCount)]
        return try await client.run(QueueScripts.recoverStalled, keys: keys, arguments: arguments).elements.compactMap(\.text)
    }

    /// Removes the job if it is waiting, prioritized or delayed.
    public func removeIfQueued(_ id: String) async throws(RedisError) -> Bool {
        let keys = ["wait", "prioritized", "delayed", "meta", "events"].map(key)
        return try await client.run(QueueScripts.removeQueued, keys: keys, arguments: [keyPrefix, id]).int == 1
    }

    /// Records a job's progress (a JSON number or object).
    func recordProgress(jobID: String, json: String) async throws(RedisError) {
        _ = try await client.run(QueueScripts.progress, keys: [key("meta"), key("events")], arguments: [keyPrefix, jobID, json])
    }

    /// Appends lines to a job's log, keeping the last `keep`.
    func appendLog(jobID: String, lines: [String], keep: Int = 100) async throws(RedisError) {
        guard !lines.isEmpty else { return }
        let logKey = key("\(jobID):logs")
        _ = try await client.pipeline([["RPUSH", logKey] + lines, ["LTRIM", logKey, String(-keep), "-1"]])
    }

    // MARK: - Reading

    /// The job with `id`, or `nil`.
    public func job(_ id: String) async throws(RedisError) -> JobSnapshot? {
        let jobKey = key(id)
        let replies = try await client.pipeline([
            ["HGETALL", jobKey], ["ZSCORE", key("completed"), id], ["ZSCORE", key("failed"), id],
            ["ZSCORE", key("delayed"), id], ["ZSCORE", key("prioritized"), id], ["LPOS", key("active"), id],
            ["LPOS", key("wait"), id], ["LRANGE", key("\(id):logs"), "0", "-1"],
        ])
        let fields = replies[0].fieldMap
        guard !fields.isEmpty else { return nil }
        let state: JobSnapshot.State =
            if replies[1] != .null { .completed }
            else if replies[2] != .null { .failed }
            else if replies[5] != .null { .active }
            else if replies[3] != .null { .delayed }
            else if replies[4] != .null { .prioritized }
            else if replies[6] != .null { .waiting }
            else { .unknown }
        return JobSnapshot(id: id, queue: name, state: state, fields: fields, logs: replies[7].elements.compactMap(\.text))
    }

    /// The ids of the jobs waiting to be taken (plain and prioritized), at most `limit`.
    public func waitingJobIDs(limit: Int = 1000) async throws(RedisError) -> [String] {
        let replies = try await client.pipeline([
            ["LRANGE", key("wait"), "0", String(limit - 1)], ["ZRANGE", key("prioritized"), "0", String(limit - 1)],
        ])
        return Array((replies[0].elements + replies[1].elements).compactMap(\.text).prefix(limit))
    }

    /// The ids of the jobs not finished yet (waiting, prioritized, delayed,
    /// paused or running), at most `limit` of each state.
    public func unfinishedJobIDs(limit: Int = 100_000) async throws(RedisError) -> [String] {
        let last = String(max(0, limit - 1))
        let replies = try await client.pipeline([
            ["LRANGE", key("wait"), "0", last], ["LRANGE", key("paused"), "0", last], ["LRANGE", key("active"), "0", last],
            ["ZRANGE", key("prioritized"), "0", last], ["ZRANGE", key("delayed"), "0", last],
        ])
        return replies.flatMap { $0.elements.compactMap(\.text) }
    }

    /// The `data` (payload) of each job of `ids`, nil for a job that is gone.
    public func payloads(of ids: [String]) async throws(RedisError) -> [String?] {
        var payloads: [String?] = []
        payloads.reserveCapacity(ids.count)
        for chunk in stride(from: 0, to: ids.count, by: 500).map({ ids[$0..<min($0 + 500, ids.count)] }) {
            let replies = try await client.pipeline(chunk.map { ["HGET", key($0), "data"] })
            payloads += replies.map(\.text)
        }
        return payloads
    }

    /// The ids of the jobs that finished (completed or failed) between `from`
    /// and `to`, in milliseconds since the epoch: the sets are scored by finish time.
    func finishedJobIDs(from: Int64, to: Int64, limit: Int) async throws(RedisError) -> [String] {
        let range = [String(from), String(to), "LIMIT", "0", String(limit)]
        let replies = try await client.pipeline([
            ["ZRANGEBYSCORE", key("completed")] + range, ["ZRANGEBYSCORE", key("failed")] + range,
        ])
        return (replies[0].elements + replies[1].elements).compactMap(\.text)
    }

    /// The ids of the jobs some host is running now.
    public func activeJobIDs() async throws(RedisError) -> [String] {
        try await client.send(["LRANGE", key("active"), "0", "-1"]).elements.compactMap(\.text)
    }

    /// How many jobs are in each state.
    public func counts() async throws(RedisError) -> [JobSnapshot.State: Int] {
        let replies = try await client.pipeline([
            ["LLEN", key("wait")], ["LLEN", key("active")], ["ZCARD", key("prioritized")], ["ZCARD", key("delayed")],
            ["ZCARD", key("completed")], ["ZCARD", key("failed")],
        ])
        let states: [JobSnapshot.State] = [.waiting, .active, .prioritized, .delayed, .completed, .failed]
        return Dictionary(uniqueKeysWithValues: zip(states, replies.map { Int($0.int ?? 0) }))
    }
}

/// A job the host took: locked by `token` until it is finished.
///
/// Its fields come from Redis, where any BullMQ producer may have written
/// them: numbers are read within ranges (a count of attempts far beyond
/// ``JobLimits/maximumAttempts`` reads as that bound), and the options are
/// checked when the worker starts the job.
struct TakenJob: Sendable {
    var id: String
    var token: String
    var fields: [String: String]

    var dataJSON: String { fields["data"] ?? "{}" }
    /// The job's options, or why the host cannot honour them.
    var options: Result<JobOptions, InvalidJobOptions> {
        Result { () throws(InvalidJobOptions) in try JobOptions(json: fields["opts"] ?? "{}") }
    }
    /// Attempts finished before this one (BullMQ's `atm`).
    var attemptsMade: Int { Self.count(fields["atm"] ?? fields["attemptsMade"]) }
    var timestamp: Int64 { Int64(fields["timestamp"] ?? "0").map { max(0, $0) } ?? 0 }
    /// This run's number for history: the attempts started, this one included (BullMQ's `ats`).
    var run: Int { Int64(fields["ats"] ?? "") == nil ? attemptsMade + 1 : Self.count(fields["ats"]) }
    /// Set by the stalled check when the job stalled too often: fail it at once.
    var deferredFailure: String? { fields["defa"] }

    /// A count field, within 0...maximumAttempts (so that adding one never overflows).
    static func count(_ text: String?) -> Int {
        guard let text, let value = Int64(text) else { return 0 }
        return Int(min(max(0, value), JobLimits.maximumAttempts))
    }
}

/// How the host finishes a job it holds.
struct JobFinish: Sendable {
    enum Kind: Sendable {
        case completed(resultJSON: String)
        case failed(reason: String)
        case retry(reason: String, delay: Duration)
        case reschedule(delay: Duration, dataJSON: String?)
        /// Back to `wait` at once, at the front: a stopping host hands it on.
        case handBack
    }

    var id: String
    var token: String
    var kind: Kind
    var keep: RetentionRule = RetentionRule()
    var attempts: Int = 1

    var arguments: [String] {
        let (name, value, delay, data): (String, String, Int64, String) =
            switch kind {
            case .completed(let result): ("completed", result, 0, "")
            case .failed(let reason): ("failed", reason, 0, "")
            case .retry(let reason, let delay): ("retry", reason, delay.milliseconds, "")
            case .reschedule(let delay, let data): ("reschedule", "", max(1, delay.milliseconds), data ?? "")
            case .handBack: ("handback", "", 0, "")
            }
        return [
            id, token, name, value, String(keep.count ?? -1), String(keep.age.map { $0.milliseconds / 1000 } ?? -1),
            String(delay), data, String(attempts),
        ]
    }
}

/// A job as Redis holds it, for `pipeline-host job` and the tests.
public struct JobSnapshot: Sendable {
    public enum State: String, Sendable, Hashable, CaseIterable {
        case waiting, prioritized, delayed, active, completed, failed, unknown
    }

    public var id: String
    public var queue: String
    public var state: State
    /// The raw hash fields.
    public var fields: [String: String]
    public var logs: [String]

    public var attemptsMade: Int { TakenJob.count(fields["atm"]) }
    public var attemptsStarted: Int { TakenJob.count(fields["ats"]) }
    public var returnValue: String? { fields["returnvalue"] }
    public var failedReason: String? { fields["failedReason"] }
    public var dataJSON: String { fields["data"] ?? "{}" }
    /// The job's options; the defaults when another producer wrote ones the host cannot read.
    public var options: JobOptions { (try? JobOptions(json: fields["opts"] ?? "{}")) ?? JobOptions() }

    /// A time field (ms since the epoch), when it is a time from 1970 to 9999.
    func time(_ field: String) -> Date? {
        guard let milliseconds = fields[field].flatMap(Double.init), milliseconds.isFinite,
            (0...253_402_300_799_999).contains(milliseconds)
        else { return nil }
        return Date(timeIntervalSince1970: milliseconds / 1000)
    }

    public var createdAt: Date? { time("timestamp") }
    public var processedAt: Date? { time("processedOn") }
    public var finishedAt: Date? { time("finishedOn") }
}

/// A queue operation that failed.
public enum QueueError: Error, Sendable, CustomStringConvertible {
    case redis(RedisError)
    case invalidJob(String)
    case unknownJobType(String)
    case unexpected(String)

    public var description: String {
        switch self {
        case .redis(let error): return error.description
        case .invalidJob(let reason): return "invalid job: \(reason)"
        case .unknownJobType(let name): return "unknown job type '\(name)'"
        case .unexpected(let reason): return "unexpected: \(reason)"
        }
    }
}
