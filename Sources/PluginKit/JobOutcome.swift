import CheckedArithmetic
/// What became of one job: the value a plugin's `execute` returns.
public struct JobOutcome: Sendable, Hashable {
    /// The four outcomes of the ABI (`PP_OUTCOME_*`).
    public enum Kind: Sendable, Hashable {
        case done
        case retry
        case fail
        case reschedule
    }

    public var kind: Kind
    /// The result of a `done` job.
    public var result: JSONValue
    /// Why a `retry` or `fail` happened.
    public var message: String?
    /// Details recorded with a failure.
    public var details: JSONValue?
    /// When the job runs again: optional for `retry`, required for `reschedule`.
    public var delay: Duration?
    /// The payload a rescheduled job comes back with (`nil` keeps the old one).
    public var payload: JSONValue?

    /// The job is done, with `result`.
    public static func done(_ result: JSONValue = .null) -> JobOutcome {
        JobOutcome(kind: .done, result: result)
    }

    /// The job is done, with `result` encoded as JSON.
    public static func done(encoding result: some Encodable) throws -> JobOutcome {
        let text = try JSONCoding.encode(result)
        return .done(try JSONCoding.decode(JSONValue.self, from: text))
    }

    /// A transient failure: the host retries while attempts remain, after
    /// `delay` if given, else after the job type's backoff.
    public static func retry(_ message: String, after delay: Duration? = nil, details: JSONValue? = nil)
        -> JobOutcome
    {
        JobOutcome(kind: .retry, result: .null, message: message, details: details, delay: delay)
    }

    /// A permanent failure: never retried.
    public static func fail(_ message: String, details: JSONValue? = nil) -> JobOutcome {
        JobOutcome(kind: .fail, result: .null, message: message, details: details)
    }

    /// Run the same job again after `delay` with `payload` (or its old one),
    /// counting no attempt: for pollers.
    public static func reschedule(after delay: Duration, payload: JSONValue? = nil) -> JobOutcome {
        JobOutcome(kind: .reschedule, result: .null, delay: delay, payload: payload)
    }
}

extension Duration {
    /// Whole milliseconds, rounded down, at least zero.
    var wholeMilliseconds: Int64 {
        max(0, milliseconds)
    }
}

extension JobOutcome {
    /// A permanent failure saying that `plugin` does not handle `job` yet: what
    /// a skeleton plugin answers while its work is planned in `issue`.
    public static func notImplemented(_ job: Job, in plugin: PluginInfo, issue: Int) -> JobOutcome {
        .fail("\(job.type) is not implemented yet in \(plugin.name) \(plugin.version) (planned in issue #\(issue))")
    }
}
