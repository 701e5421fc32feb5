/// What one finished attempt does to its job: a pure function of the
/// plugin's outcome, the job's own options and the job type's settings.
///
/// A job's own BullMQ options win where it has them (a job added by another
/// BullMQ client with `attempts: 5`); where it has none, pipeline.yaml's
/// settings for its job type apply.
struct AttemptResolution: Sendable {
    var kind: JobFinish.Kind
    /// The retention rule for a finished job.
    var keep: RetentionRule
    /// Attempts allowed in all.
    var attempts: Int

    /// - Parameters:
    ///   - attemptsMade: attempts finished before this one.
    ///   - random: in 0..<1, picks the backoff's jitter.
    init(outcome: PluginCallOutcome, options: JobOptions, attemptsMade: Int, settings: JobTypeConfiguration, random: Double) {
        attempts = options.attempts ?? settings.attempts
        let completedRule = options.removeOnComplete ?? settings.retention.completed
        let failedRule = options.removeOnFail ?? settings.retention.failed
        let thisAttempt = attemptsMade + 1
        switch outcome.kind {
        case .done:
            kind = .completed(resultJSON: outcome.resultJSON ?? "null")
            keep = completedRule
        case .reschedule:
            kind = .reschedule(delay: outcome.delay ?? .seconds(1), dataJSON: outcome.payloadJSON)
            keep = completedRule
        case .fail:
            kind = .failed(reason: outcome.message ?? "failed")
            keep = failedRule
        case .retry where thisAttempt < attempts:
            let backoff = options.backoff ?? settings.backoff
            let delay = outcome.delay ?? backoff.delay(afterAttempt: thisAttempt, random: random)
            kind = .retry(reason: outcome.message ?? "failed", delay: delay)
            keep = failedRule
        case .retry:
            kind = .failed(reason: outcome.message ?? "failed")
            keep = failedRule
        }
    }
}
