import PluginABI

/// How one execute call ended, in the host's terms, with everything the
/// plugin reported during it.
public struct PluginCallOutcome: Sendable {
    /// The four outcomes of the ABI.
    public enum Kind: String, Sendable {
        /// Done, with ``resultJSON``.
        case done
        /// A transient failure: retried while attempts remain.
        case retry
        /// A permanent failure: never retried.
        case fail
        /// Back after ``delay`` with ``payloadJSON``, no attempt counted.
        case reschedule
    }

    public var kind: Kind
    /// The result (any JSON value) of a `done` call.
    public var resultJSON: String?
    /// Why the call failed, for `retry` and `fail`.
    public var message: String?
    public var detailsJSON: String?
    /// When to run again: required for `reschedule`, optional for `retry`.
    public var delay: Duration?
    /// The payload a rescheduled job comes back with (`nil` keeps the old).
    public var payloadJSON: String?
    /// Whether the job's time ran out (the attempt then counts as failed).
    public var timedOut: Bool
    /// What the plugin logged, its last progress, and the effects it asked for.
    public var report: PluginCall.Report
    /// How long the call took, as the host saw it.
    public var duration: Duration
    /// The call, when the host stopped waiting for it after its timeout and
    /// grace: its thread may still be in the plugin.
    public var abandonedCall: PluginCall?
    /// The runner died while the call ran in it (isolated plugins).
    public var crash: PluginCrash?

    /// The outcome of a call whose runner died under it: a retryable failure
    /// that names the plugin and the cause.
    init(crash: PluginCrash, pluginID: String, report: PluginCall.Report, duration: Duration) {
        self.report = report
        self.duration = duration
        self.crash = crash
        kind = .retry
        timedOut = false
        resultJSON = nil
        detailsJSON = nil
        delay = nil
        payloadJSON = nil
        let beside = crash.alone ? "" : ", with other jobs in flight beside it"
        switch crash.death.cause {
        case .memory(let limit, let resident):
            message = "plugin \(pluginID) was ended at its max_memory of \(ByteSize.describe(limit)) (\(resident >> 20)MiB resident) while running this job\(beside)"
        case .hung(let jobID):
            message = "plugin \(pluginID)'s runner was ended because job \(jobID) ran past its timeout; this job was running beside it"
        default:
            message = "plugin \(pluginID) crashed (\(crash.death)) while running this job\(beside)"
        }
    }

    init(
        result: BlockingExecutor.TimedResult<pp_outcome>, report: PluginCall.Report, timeout: Duration,
        cancelGrace: Duration, duration: Duration
    ) {
        self.report = report
        self.duration = duration
        timedOut = false
        resultJSON = nil
        detailsJSON = report.errorDetails
        delay = report.delayMilliseconds.map { .milliseconds($0) }
        payloadJSON = nil
        let reason = report.errorMessage
        let limit = DurationSyntax.format(timeout)
        switch result {
        case .rejected:
            kind = .retry
            message = "not run: the host is shutting down"
        case .abandoned:
            kind = .retry
            timedOut = true
            message =
                "timed out after \(limit); the plugin did not stop within \(DurationSyntax.format(cancelGrace)) "
                + "of being cancelled and may still be running"
        case .completed(_, afterDeadline: true):
            kind = .retry
            timedOut = true
            message = "timed out after \(limit)" + (reason.map { " (the plugin said: \($0))" } ?? "")
        case .completed(let code, afterDeadline: false):
            switch code {
            case PP_OUTCOME_DONE:
                kind = .done
                resultJSON = report.result ?? "null"
            case PP_OUTCOME_RETRY:
                kind = .retry
                message = reason ?? "the plugin asked for a retry without saying why (it did not call set_error)"
            case PP_OUTCOME_FAIL:
                kind = .fail
                message = reason ?? "the plugin failed the job without saying why (it did not call set_error)"
            case PP_OUTCOME_RESCHEDULE where report.delayMilliseconds != nil:
                kind = .reschedule
                payloadJSON = report.payload
            case PP_OUTCOME_RESCHEDULE:
                kind = .fail
                message = "the plugin returned PP_OUTCOME_RESCHEDULE without calling set_delay; this is a plugin bug"
            default:
                kind = .fail
                message =
                    "the plugin returned \(code), which is not an outcome (DONE 0, RETRY 1, FAIL 2, RESCHEDULE 3); "
                    + "this is a plugin bug"
            }
        }
    }
}

/// A runner's death under a call.
public struct PluginCrash: Sendable, Equatable {
    public var death: RunnerDeath
    /// Whether this call was the only one in the runner (or ran alone in the
    /// quarantine runner): then the death is its doing for certain.
    public var alone: Bool
}
