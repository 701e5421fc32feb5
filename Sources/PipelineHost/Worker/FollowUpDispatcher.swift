import PipelinePayloads
import Foundation
import Logging

/// Applies the effects a job asked for, when the job is done and before it
/// is finished in Redis.
///
/// A follow-up job gets a job id derived from its parent's type and id (unless the plugin
/// chose one), so that if the host dies between adding it and finishing the
/// parent, the parent's rerun adds nothing twice: BullMQ ignores an add whose
/// custom id exists.
final class FollowUpDispatcher: Sendable {
    private let targets: [String: (queue: JobQueue, settings: JobTypeConfiguration)]
    private let ledger: RequestLedger?
    private let library: LibraryLedger?
    private let history: JobHistory?
    private let logger: Logger

    init(
        targets: [String: (queue: JobQueue, settings: JobTypeConfiguration)], ledger: RequestLedger?, history: JobHistory?,
        logger: Logger
    ) {
        self.targets = targets
        self.ledger = ledger
        library = ledger.map { LibraryLedger(client: $0.client) }
        self.history = history
        self.logger = logger
    }

    /// The job types a plugin may enqueue.
    var jobTypes: Set<String> { Set(targets.keys) }

    func apply(_ completions: [QueueWorker.Completion]) async {
        for completion in completions where !completion.effects.isEmpty {
            for (index, effect) in completion.effects.enumerated() {
                switch effect {
                case .enqueue(let jobType, let payloadJSON, let requested):
                    guard case .completed = completion.finish.kind else { continue }
                    await enqueue(
                        jobType, payloadJSON, requested, parent: "\(completion.jobType)-\(completion.finish.id)", index: index)
                case .requestTransition(let requestID, let status, let detailsJSON):
                    await transition(requestID, to: status, detailsJSON: detailsJSON, job: completion.finish.id)
                case .libraryReport(let backend, let items, let complete):
                    guard case .completed = completion.finish.kind else { continue }
                    await report(backend, items, complete: complete)
                }
            }
        }
    }

    private func transition(_ requestID: String, to status: RequestStatus, detailsJSON: String?, job: String) async {
        guard let ledger else {
            logger.info("request transition asked (no request ledger: postgres.enabled is false)",
                metadata: ["request_id": "\(requestID)", "status": "\(status.rawValue)"])
            return
        }
        // The details were checked when the plugin asked; a host-made
        // transition's details are always well formed.
        let update = (try? RequestUpdate(detailsJSON: detailsJSON)) ?? RequestUpdate()
        do {
            try await ledger.transition(requestID, to: status, update: update)
        } catch {
            logger.warning("request transition refused", metadata: ["request_id": "\(requestID)", "job_id": "\(job)", "error": "\(error)"])
        }
    }

    private func report(_ backend: String, _ items: [LibraryBook], complete: Bool) async {
        guard let library else {
            logger.info("library report ignored (no history: postgres.enabled is false)", metadata: ["backend": "\(backend)"])
            return
        }
        do {
            let outcome = try await library.apply(backend: backend, items: items, complete: complete)
            logger.info(
                "library report applied",
                metadata: [
                    "backend": "\(backend)", "items": "\(outcome.recorded)", "removed": "\(outcome.removed)",
                    "available": "\(outcome.matched.count)",
                ])
        } catch {
            logger.error("library report not applied", metadata: ["backend": "\(backend)", "error": "\(error)"])
        }
    }

    private func enqueue(_ jobType: String, _ payloadJSON: String, _ requested: FollowUpOptions, parent: String, index: Int) async {
        guard let target = targets[jobType] else {
            logger.error("follow-up job type is not configured; dropped", metadata: ["job_type": "\(jobType)"])
            return
        }
        var options = JobOptions(for: target.settings)
        if let delay = requested.delayMilliseconds { options.delay = .milliseconds(delay) }
        if let priority = requested.priority { options.priority = priority }
        options.jobID = requested.jobID ?? "fu-\(parent)-\(index)"
        let chosen = options
        do {
            _ = try await target.queue.client.withReconnect("add a follow-up job") { () throws(RedisError) in
                do throws(QueueError) {
                    let id = try await target.queue.add(dataJSON: payloadJSON, options: chosen)
                    await self.history?.enqueued(jobType: jobType, id: id, payloadJSON: payloadJSON, options: chosen)
                    return id
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
