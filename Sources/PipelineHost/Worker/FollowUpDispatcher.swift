import Logging

/// Applies the effects a job asked for, when the job is done and before it
/// is finished in Redis.
///
/// A follow-up job gets a job id derived from its parent's (unless the plugin
/// chose one), so that if the host dies between adding it and finishing the
/// parent, the parent's rerun adds nothing twice: BullMQ ignores an add whose
/// custom id exists.
final class FollowUpDispatcher: Sendable {
    private let targets: [String: (queue: JobQueue, settings: JobTypeConfiguration)]
    private let logger: Logger

    init(targets: [String: (queue: JobQueue, settings: JobTypeConfiguration)], logger: Logger) {
        self.targets = targets
        self.logger = logger
    }

    /// The job types a plugin may enqueue.
    var jobTypes: Set<String> { Set(targets.keys) }

    func apply(_ completions: [QueueWorker.Completion]) async {
        for completion in completions where !completion.effects.isEmpty {
            guard case .completed = completion.finish.kind else { continue }
            for (index, effect) in completion.effects.enumerated() {
                switch effect {
                case .enqueue(let jobType, let payloadJSON, let requested):
                    await enqueue(jobType, payloadJSON, requested, parentID: completion.finish.id, index: index)
                case .requestTransition(let requestID, let status, _):
                    // The request ledger (PostgreSQL) applies these; until it exists they are logged.
                    logger.info(
                        "request transition asked", metadata: ["request_id": "\(requestID)", "status": "\(status.rawValue)"])
                }
            }
        }
    }

    private func enqueue(_ jobType: String, _ payloadJSON: String, _ requested: FollowUpOptions, parentID: String, index: Int) async {
        guard let target = targets[jobType] else {
            logger.error("follow-up job type is not configured; dropped", metadata: ["job_type": "\(jobType)"])
            return
        }
        var options = JobOptions(for: target.settings)
        if let delay = requested.delayMilliseconds { options.delay = .milliseconds(delay) }
        if let priority = requested.priority { options.priority = priority }
        options.jobID = requested.jobID ?? "fu-\(parentID)-\(index)"
        let chosen = options
        do {
            _ = try await target.queue.client.withReconnect("add a follow-up job") { () throws(RedisError) in
                do throws(QueueError) {
                    return try await target.queue.add(dataJSON: payloadJSON, options: chosen)
                } catch {
                    if case .redis(let redis) = error { throw redis }
                    self.logger.error("follow-up job refused", metadata: ["error": "\(error)"])
                    return ""
                }
            }
        } catch {
            logger.error("could not add a follow-up job", metadata: ["job_type": "\(jobType)", "error": "\(error)"])
        }
    }
}
