import Foundation
import PipelineJSON

/// Turns what a worker does into history records for the ``HistoryWriter``:
/// a `jobs` row that follows each state, and the job's event log.
struct JobHistory: Sendable {
    let writer: HistoryWriter
    let host: String

    /// The host's own events, by fixed sequence numbers within a run.
    enum HostEvent: Int {
        case started = -1
        case retryScheduled = -2
        case completed = -3
        case failed = -4
        case stalled = -5
        case handedBack = -6
        case reconciled = -7
    }

    static func requestID(in payloadJSON: String) -> String? {
        guard payloadJSON.contains("equestId") || payloadJSON.contains("equest_id"),
            let value = try? JSONDecoder().decode(JSONValue.self, from: Data(payloadJSON.utf8))
        else { return nil }
        return value["requestId"]?.stringValue ?? value["request_id"]?.stringValue
    }

    func enqueued(jobType: String, id: String, payloadJSON: String, options: JobOptions) async {
        await writer.record([
            JobStateRecord(
                jobType: jobType, jobID: id, status: options.delay > .zero ? .delayed : .pending, run: 0, rank: 1,
                requestID: Self.requestID(in: payloadJSON), attempts: 0, maxAttempts: options.attempts,
                priority: options.priority, payloadJSON: payloadJSON)
        ])
    }

    /// - Parameter plugin: which plugin runs it, for the event log: its
    ///   pipeline.yaml name, id, version and file (a reload may swap them).
    func started(jobType: String, job: TakenJob, run: Int, maxAttempts: Int, plugin: String) async {
        await writer.record(
            [
                JobStateRecord(
                    jobType: jobType, jobID: job.id, status: .active, run: run, rank: 2,
                    requestID: Self.requestID(in: job.dataJSON), attempts: job.attemptsMade, maxAttempts: maxAttempts,
                    priority: Int(job.fields["priority"] ?? "0"), payloadJSON: job.dataJSON, host: host, startedAt: Date())
            ],
            [
                event(
                    jobType, job.id, run, .started, .info,
                    "attempt \(job.attemptsMade + 1) of \(maxAttempts) started on \(host) by plugin \(plugin)")
            ])
    }

    func finished(
        jobType: String, jobID: String, run: Int, attemptsMade: Int, resolution: AttemptResolution,
        outcome: PluginCallOutcome, plugin: String
    ) async {
        var states: [JobStateRecord] = []
        var events = outcome.report.events.enumerated().map { index, line in
            JobEventRecord(
                jobType: jobType, jobID: jobID, run: run, sequence: index + 1, level: line.level, context: "plugin:\(plugin)",
                message: line.message, metadataJSON: line.metadataJSON, at: line.time)
        }
        let made = attemptsMade + 1
        let took = "\(outcome.duration.milliseconds) ms"
        switch resolution.kind {
        case .completed(let result):
            states.append(state(jobType, jobID, .completed, run, attempts: made, result: result, completed: true))
            events.append(event(jobType, jobID, run, .completed, .info, "completed in \(took)"))
        case .failed(let reason):
            var failed = state(jobType, jobID, .failed, run, attempts: made, error: reason, completed: true)
            failed.errorStack = outcome.detailsJSON
            states.append(failed)
            let why = outcome.kind == .fail ? "failed for good" : "failed after \(made) of \(resolution.attempts) attempts"
            events.append(event(jobType, jobID, run, .failed, .error, "\(why): \(reason)"))
        case .retry(let reason, let delay):
            var delayed = state(jobType, jobID, .delayed, run, attempts: made, error: reason)
            delayed.errorStack = outcome.detailsJSON
            states.append(delayed)
            events.append(
                event(jobType, jobID, run, .retryScheduled, .warn,
                    "attempt \(made) of \(resolution.attempts) failed: \(reason); retry in \(DurationSyntax.format(delay))"))
        case .reschedule:
            states.append(state(jobType, jobID, .delayed, run, attempts: attemptsMade))
        case .handBack:
            break
        }
        await writer.record(states, events)
    }

    func handedBack(jobType: String, jobs: [(id: String, run: Int)]) async {
        await writer.record(
            jobs.map { state(jobType, $0.id, .pending, $0.run, attempts: nil) },
            jobs.map { event(jobType, $0.id, $0.run, .handedBack, .warn, "handed back to the queue by \(host), which is stopping") })
    }

    /// A job the host completed without running a plugin (one it fanned out to several instances).
    func completedByHost(jobType: String, jobID: String, run: Int, attempts: Int, resultJSON: String, message: String) async {
        await writer.record(
            [state(jobType, jobID, .completed, run, attempts: attempts, result: resultJSON, completed: true)],
            [event(jobType, jobID, run, .completed, .info, "completed by the host: \(message)")])
    }

    func failedByHost(jobType: String, jobID: String, run: Int, attempts: Int, reason: String) async {
        await writer.record(
            [state(jobType, jobID, .failed, run, attempts: attempts, error: reason, completed: true)],
            [event(jobType, jobID, run, .failed, .error, "failed for good: \(reason)")])
    }

    /// Jobs the stalled check put back: `stuck` until a host takes them again
    /// (that run's states, one run later, replace it).
    func stalled(jobType: String, jobs: [(id: String, run: Int)]) async {
        await writer.record(
            jobs.map { state(jobType, $0.id, .stuck, $0.run, attempts: nil) },
            jobs.map { event(jobType, $0.id, $0.run, .stalled, .warn, "stalled (its host stopped renewing the lock); back in the queue") })
    }

    /// A job Redis has finished while its row says otherwise (the host that
    /// ran it died before its history was written): the row follows Redis.
    func reconciled(jobType: String, snapshot: JobSnapshot) async {
        let run = snapshot.attemptsStarted
        let completed = snapshot.state == .completed
        var record = state(
            jobType, snapshot.id, completed ? .completed : .failed, run, attempts: snapshot.attemptsMade,
            result: completed ? snapshot.returnValue : nil, error: completed ? nil : snapshot.failedReason, completed: true)
        record.host = nil
        record.completedAt = snapshot.finishedAt ?? Date()
        await writer.record(
            [record],
            [
                event(
                    jobType, snapshot.id, run, .reconciled, .warn,
                    "\(completed ? "completed" : "failed") in Redis, but its host stopped before writing that here; "
                        + "history repaired from Redis")
            ])
    }

    private func state(
        _ jobType: String, _ jobID: String, _ status: JobStateRecord.Status, _ run: Int, attempts: Int?,
        result: String? = nil, error: String? = nil, completed: Bool = false
    ) -> JobStateRecord {
        JobStateRecord(
            jobType: jobType, jobID: jobID, status: status, run: run, rank: 3, attempts: attempts,
            resultJSON: result, errorMessage: error, host: host, completedAt: completed ? Date() : nil)
    }

    private func event(
        _ jobType: String, _ jobID: String, _ run: Int, _ kind: HostEvent, _ level: PluginLogEvent.Level, _ message: String
    ) -> JobEventRecord {
        JobEventRecord(
            jobType: jobType, jobID: jobID, run: run, sequence: kind.rawValue, level: level, context: "host", message: message)
    }
}
