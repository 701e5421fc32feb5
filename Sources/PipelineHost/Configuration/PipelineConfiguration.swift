/// The whole of pipeline.yaml, typed and checked. docs/configuration.md
/// describes every key.
public struct PipelineConfiguration: Sendable {
    /// The file the configuration was read from.
    public var file: String
    /// Where relative plugin paths are resolved.
    public var pluginDirectory: String
    /// What each job type gets unless it says otherwise.
    public var defaults: JobDefaults
    public var redis: RedisSettings
    public var postgres: PostgresSettings
    public var admin: AdminSettings
    /// How workers hold, renew and recover jobs.
    public var queue: QueueSettings
    /// The plugins to load, in file order. No other file is ever loaded.
    public var plugins: [PluginEntry]
    /// The job types, in file order.
    public var jobs: [JobTypeConfiguration]
    /// The download clients, in priority order: the plugin instances that
    /// job types bound to `download_clients` are routed over (empty when the
    /// file has no such list).
    public var downloadClients: [DownloadClientRoute] = []

    /// The job types bound to the `download_clients` list rather than to one plugin.
    public var downloadJobTypes: Set<String> {
        Set(jobs.filter { $0.plugin == DownloadClientRoute.listName }.map(\.name))
    }
    /// The library backends: job types bound to `library_backends` run on
    /// each of them (empty when the file has no such list).
    public var libraryBackends: [LibraryBackendRoute] = []

    /// The job types bound to the `library_backends` list.
    public var libraryJobTypes: Set<String> {
        Set(jobs.filter { $0.plugin == LibraryBackendRoute.listName }.map(\.name))
    }

    /// Each routed list by its name, with its members' plugin names.
    public var routedLists: [(name: String, members: [String])] {
        [
            (DownloadClientRoute.listName, downloadClients.map(\.plugin)),
            (LibraryBackendRoute.listName, libraryBackends.map(\.plugin)),
        ]
    }

    /// The job type named `name`.
    public func job(named name: String) -> JobTypeConfiguration? {
        jobs.first { $0.name == name }
    }

    /// The plugin entry named `name`.
    public func plugin(named name: String) -> PluginEntry? {
        plugins.first { $0.name == name }
    }
}

/// One entry under `plugins:`.
public struct PluginEntry: Sendable {
    /// The name job types use to bind to it.
    public var name: String
    /// The absolute path of the shared library.
    public var path: String
    /// The entry's `config` object as JSON (`{}` when absent).
    public var configJSON: String
    /// Where its code runs: a runner process of its own (the default), or the host.
    public var isolation: PluginIsolation = .process
    /// Where the entry, its path and its config are written.
    public var location: SourceLocation
    public var pathLocation: SourceLocation
    public var configLocation: SourceLocation
}

/// One entry under `jobs:`: a job type and how it runs.
public struct JobTypeConfiguration: Sendable {
    /// The job type; also the name of its BullMQ queue.
    public var name: String
    /// The name of the plugin entry that runs it, or `download_clients` or
    /// `library_backends` for a job type routed over that list.
    public var plugin: String
    /// The most jobs of this type one host runs at once.
    public var concurrency: Int
    /// The priority of its jobs unless an enqueue says otherwise.
    public var priority: JobPriority
    /// Attempts in all, the first included.
    public var attempts: Int
    public var backoff: Backoff
    /// How long one attempt may run before the host cancels it.
    public var timeout: Duration
    public var retention: Retention
    /// How long a new job waits before it may run.
    public var delay: Duration
    public var schedule: JobSchedule?
    public var location: SourceLocation
    public var pluginLocation: SourceLocation
}

/// The values a job type takes when it does not set its own.
public struct JobDefaults: Sendable {
    public var concurrency = 1
    public var priority = JobPriority.none
    public var attempts = 3
    public var backoff = Backoff(strategy: .exponential, delay: .seconds(2))
    public var timeout = Duration.seconds(600)
    public var retention = Retention(completed: RetentionRule(count: 100), failed: RetentionRule(count: 200))
    public var delay = Duration.zero

    public init() {}
}

/// A job priority as BullMQ reads it: 0 means none (such jobs are taken
/// before every prioritized job, first in first out); from 1 up, a lower
/// number is more urgent.
public struct JobPriority: Sendable, Hashable, CustomStringConvertible {
    /// BullMQ's largest priority.
    public static let maximum = 2_097_151
    public static let none = JobPriority(value: 0)

    /// The names pipeline.yaml may use, and their numbers.
    public static let levels: [(name: String, value: Int)] = [("high", 1), ("medium", 5), ("low", 10)]

    public var value: Int

    public init(value: Int) {
        self.value = value
    }

    /// A name (`high`, `medium`, `low`, `none`) or a number from 0 to ``maximum``.
    public static func parse(_ text: String) -> JobPriority? {
        if let level = levels.first(where: { $0.name == text.lowercased() }) { return JobPriority(value: level.value) }
        if text.lowercased() == "none" { return JobPriority.none }
        guard let number = Int(text), (0...maximum).contains(number) else { return nil }
        return JobPriority(value: number)
    }

    public var description: String {
        if let level = Self.levels.first(where: { $0.value == value }) { return "\(level.name) (\(value))" }
        return value == 0 ? "none (0)" : "\(value)"
    }
}

/// How long to wait before each retry.
public struct Backoff: Sendable, Hashable {
    public enum Strategy: String, Sendable, CaseIterable {
        /// The same delay before every retry.
        case fixed
        /// delay × 2^(attempt−1): 2 s, 4 s, 8 s for a 2 s delay.
        case exponential
    }

    public var strategy: Strategy
    public var delay: Duration
    /// Up to this fraction of the delay is taken off at random (0 to 1), so
    /// that jobs failing together do not retry together.
    public var jitter: Double
    /// The longest delay, whatever the attempt.
    public var limit: Duration?

    public init(strategy: Strategy, delay: Duration, jitter: Double = 0, limit: Duration? = nil) {
        self.strategy = strategy
        self.delay = delay
        self.jitter = jitter
        self.limit = limit
    }

    /// The delay after failed attempt `attempt` (from 1), with `random` in
    /// 0..<1 choosing the jitter. Never longer than ``limit`` nor than
    /// ``JobLimits/maximumDelay``, however large the attempt or the delay.
    public func delay(afterAttempt attempt: Int, random: Double = 0) -> Duration {
        var milliseconds = max(0, delay.milliseconds)
        if strategy == .exponential {
            let doublings = Int64(max(0, min(attempt - 1, 62)))
            milliseconds = milliseconds.multipliedSaturating(by: Int64(1) << doublings)
        }
        milliseconds = min(milliseconds, limit.map { max(0, $0.milliseconds) } ?? .max, JobLimits.maximumDelayMilliseconds)
        guard jitter > 0 else { return .milliseconds(milliseconds) }
        let share = 1 - min(1, max(0, jitter)) * min(1, max(0, random))
        return .nanoseconds(Int64(saturating: (Double(milliseconds) * share * 1_000_000).rounded()))
    }

    public var summary: String {
        var text = "\(strategy.rawValue) \(DurationSyntax.format(delay))"
        if jitter > 0 { text += " ±\(Int(jitter * 100))%" }
        if let limit { text += " ≤\(DurationSyntax.format(limit))" }
        return text
    }
}

/// How many finished jobs of a type stay in Redis.
public struct Retention: Sendable, Hashable {
    public var completed: RetentionRule
    public var failed: RetentionRule

    public init(completed: RetentionRule, failed: RetentionRule) {
        self.completed = completed
        self.failed = failed
    }
}

/// Keep at most `count` jobs, none older than `age`; both absent keeps all.
public struct RetentionRule: Sendable, Hashable {
    public var count: Int?
    public var age: Duration?

    public init(count: Int? = nil, age: Duration? = nil) {
        self.count = count
        self.age = age
    }
}

/// When a job type runs by itself.
public struct JobSchedule: Sendable {
    public enum Trigger: Sendable {
        case cron(CronExpression)
        case every(Duration)
    }

    public var trigger: Trigger
    public var enabled: Bool
    /// The payload of each job it creates (a JSON object).
    public var payloadJSON: String

    public var summary: String {
        let text: String
        switch trigger {
        case .cron(let expression): text = "cron \(expression.source)"
        case .every(let interval): text = "every \(DurationSyntax.format(interval))"
        }
        return enabled ? text : text + " (disabled)"
    }
}

public struct RedisSettings: Sendable {
    /// `redis://[:password@]host[:port][/db]` or `rediss://…`.
    public var url: String
    /// The BullMQ key prefix: keys are `<prefix>:<job type>:…`. Braces
    /// (`{bull}`) put each queue in one Redis Cluster hash slot.
    public var prefix: String
}

public struct PostgresSettings: Sendable {
    /// `postgres://user[:password]@host[:port]/database[?options]`.
    public var url: String
    /// The schema the history tables live in (created by the migrations).
    public var schema: String = "pipeline"
    /// Whether the host writes history and keeps the request ledger.
    public var enabled: Bool = true
}

public struct AdminSettings: Sendable {
    /// The shortest admin token the host accepts.
    public static let minimumTokenLength = 16

    public var host: String
    public var port: Int
    /// The bearer token the admin API requires; empty turns the API off.
    public var token: String
    /// The names the admin may be reached by (the `Host` header), besides
    /// the listen address, and `localhost` when that is loopback. Guards
    /// against DNS rebinding; list the name a reverse proxy forwards.
    public var allowedHosts: [String] = []
    /// The most connections open at once; more wait to be accepted.
    public var maxConnections = 64
    /// A connection with no complete request for this long is closed (a
    /// request's headers must arrive within it, too).
    public var idleTimeout: Duration = .seconds(30)

    public init(host: String, port: Int, token: String) {
        self.host = host
        self.port = port
        self.token = token
    }

    /// Whether the admin listens on a loopback address only.
    public var isLoopback: Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }
}

/// How workers hold, renew and recover jobs (BullMQ's worker settings).
public struct QueueSettings: Sendable {
    /// How long a taken job's lock lasts; renewed every half of it.
    public var lockDuration: Duration = .seconds(30)
    /// How often the stalled check runs (once per interval across all hosts).
    public var stalledInterval: Duration = .seconds(30)
    /// How often a job may stall before it fails for good.
    public var maxStalledCount: Int = 1
    /// The longest an idle worker waits on the marker before it looks anyway.
    public var drainDelay: Duration = .seconds(5)
    /// How long a stopping host lets running jobs finish before it hands them back.
    public var shutdownGrace: Duration = .seconds(10)
    /// How long a plugin call may go on after its timeout cancelled it
    /// before the host gives up on it (in process) or ends its runner (isolated).
    public var cancelGrace: Duration = .seconds(5)

    public init() {}
}
