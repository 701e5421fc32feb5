import CheckedArithmetic
import Foundation
import Logging
import Synchronization

/// Runs the jobs of one job type on this host: at most `concurrency` at once.
///
/// One loop talks to Redis for the job type. Each turn it finishes every job
/// that completed since the last turn and takes as many new jobs as slots are
/// free, in one script call ("finish and take"); with many slots, completions
/// that arrive while a call is in flight go together in the next one. When
/// the queue is empty the loop waits on the queue's marker with BZPOPMIN (no
/// polling). Beside it, the worker renews its jobs' locks and runs the
/// stalled check. On ``beginStop()`` it takes no more jobs, lets running ones
/// finish within the shutdown grace, then hands the rest back to `wait` at
/// once, so that another host takes them without waiting for the stalled check.
final class QueueWorker: Sendable {
    let settings: JobTypeConfiguration
    let queue: JobQueue
    /// The plugin that runs its jobs, or the instances a router chooses among.
    let plugins: JobPlugins
    let executor: BlockingExecutor
    let queueSettings: QueueSettings
    let hostID: String
    let logger: Logger
    let effects: PluginEffectPolicy
    /// Adds the follow-up jobs of a completed job, before it is finished.
    let followUps: FollowUpDispatcher
    /// Where the job's states and events go, when history is on.
    let history: JobHistory?

    private let state = Mutex(State())
    /// Jobs this worker finished in Redis, by outcome: for metrics and benchmarks.
    let counters: JobCounters
    /// When the queue's script keeps failing: the log line, the metric, the backoff.
    private let scriptFailures: ScriptFailures
    private let signals: AsyncStream<Void>
    private let signal: AsyncStream<Void>.Continuation
    /// Finished when ``run()`` returns.
    private let ended: AsyncStream<Void>
    private let end: AsyncStream<Void>.Continuation

    private struct State {
        var running: [String: RunningJob] = [:]
        var completions: [Completion] = []
        /// Set by the marker waiter when it ends (and only by it).
        var markerFired = false
        /// Set when the stalled check put jobs back: there may be work.
        var recovered = false
        /// Slots given back by jobs whose lock was lost (their tasks add no completion).
        var freedSlots = 0
        var stopping = false
        /// The shutdown grace has begun (a drain has none).
        var graceStarted = false
        var handBackNow = false
    }

    private struct RunningJob {
        var token: String
        var run: Int
        var call: PluginCall?
    }

    struct Completion: Sendable {
        var finish: JobFinish
        var effects: [PluginEffect]
        var jobType: String
        /// False while the job's plugin call still holds its thread (abandoned
        /// after its timeout); the slot then comes back when the call returns.
        var freesSlot = true
    }

    init(
        settings: JobTypeConfiguration, queue: JobQueue, plugins: JobPlugins, executor: BlockingExecutor,
        queueSettings: QueueSettings, hostID: String, effects: PluginEffectPolicy, followUps: FollowUpDispatcher,
        history: JobHistory?, metrics: RuntimeMetrics? = nil, logger: Logger
    ) {
        self.settings = settings
        self.queue = queue
        self.plugins = plugins
        self.executor = executor
        self.queueSettings = queueSettings
        self.hostID = hostID
        self.effects = effects
        self.followUps = followUps
        self.history = history
        counters = JobCounters(jobType: settings.name, metrics: metrics)
        var logger = logger
        logger[metadataKey: "job_type"] = "\(settings.name)"
        self.logger = logger
        scriptFailures = ScriptFailures(queue: queue, logger: logger, metrics: metrics, jobType: settings.name)
        (signals, signal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        (ended, end) = AsyncStream.makeStream(of: Void.self)
    }


    /// The jobs running now.
    var runningCount: Int { state.withLock { $0.running.count } }

    /// The take-and-finish script's failures in a row, if it is failing now.
    var scriptFailure: ScriptFailures.Snapshot? { scriptFailures.current }

    /// Stops taking jobs; running ones finish within the shutdown grace, then
    /// the rest are handed back. ``run()`` returns when all is settled.
    func beginStop() {
        let first = state.withLock { state -> Bool in
            defer {
                state.stopping = true
                state.graceStarted = true
            }
            return !state.graceStarted
        }
        signal.yield()
        guard first else { return }
        let grace = queueSettings.shutdownGrace
        Task { [self] in
            try? await Task.sleep(for: grace)
            state.withLock { $0.handBackNow = true }
            signal.yield()
        }
    }

    /// Stops taking jobs and lets the running ones finish, however long
    /// they take (within their timeout): what a reload does to the workers it
    /// replaces. A later ``beginStop()`` still starts the shutdown grace.
    func beginDrain() {
        state.withLock { $0.stopping = true }
        signal.yield()
    }

    /// Returns once ``run()`` has returned.
    func waitUntilEnded() async {
        for await _ in ended {}
    }

    private var isStopping: Bool { state.withLock { $0.stopping } }

    // MARK: - The loop

    func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.renewLocksPeriodically() }
            group.addTask { await self.checkStalledPeriodically() }
            await loop(group: &group)
            group.cancelAll()
        }
        await executor.shutdown()
        end.finish()
    }

    private func loop(group: inout DiscardingTaskGroup) async {
        var free = settings.concurrency
        var mayHaveWork = true
        var nextDue: Int64 = 0
        var sequence = 0
        var markerWaiter: Task<Void, Never>?
        var signalIterator = signals.makeAsyncIterator()
        defer { markerWaiter?.cancel() }
        while true {
            let (completions, stopping, handBack, markerFired, recovered, freed) = state.withLock { state in
                defer {
                    state.completions.removeAll(keepingCapacity: true)
                    state.markerFired = false
                    state.recovered = false
                    state.freedSlots = 0
                }
                return (
                    state.completions, state.stopping, state.handBackNow, state.markerFired, state.recovered,
                    state.freedSlots
                )
            }
            free += completions.count(where: \.freesSlot) + freed
            if markerFired {
                mayHaveWork = true
                markerWaiter = nil
            }
            if recovered || freed > 0 { mayHaveWork = true }
            var finishes = completions.map(\.finish)
            if handBack {
                let returned = takeBackRunningJobs()
                finishes += returned.map(\.finish)
                await history?.handedBack(jobType: settings.name, jobs: returned.map { ($0.finish.id, $0.run) })
            }
            if stopping, finishes.isEmpty, runningCount == 0 { return }
            let want = stopping ? 0 : (mayHaveWork ? free : 0)
            if !finishes.isEmpty || want > 0 {
                await followUps.apply(completions)
                sequence += 1
                let tokenBase = "\(hostID):\(sequence)"
                let finishBatch = finishes
                let result: (codes: [Int], jobs: [TakenJob], nextDueMilliseconds: Int64)
                do {
                    result = try await queue.client.withReconnect("finish and take jobs", shouldGiveUp: { self.isHandingBack }) {
                        () throws(RedisError) in
                        try await self.queue.finishAndTake(
                            finishBatch, take: want, tokenBase: tokenBase, lockDuration: self.queueSettings.lockDuration)
                    }
                    if scriptFailures.clear() {
                        logger.notice("the queue's script works again", metadata: ["queue": "\(queue.keyPrefix)"])
                    }
                } catch {
                    // Not written: keep the completions for the next turn, and
                    // back off while the script keeps failing (a damaged key,
                    // say), saying why.
                    state.withLock { $0.completions.insert(contentsOf: completions, at: 0) }
                    free -= completions.count(where: \.freesSlot)
                    let pause = scriptFailures.record(error)
                    if !handBack { try? await Task.sleep(for: pause) }
                    continue
                }
                counters.record(zip(finishes, result.codes).filter { $0.1 == 0 }.map(\.0.kind))
                for (finish, code) in zip(finishes, result.codes) where code != 0 {
                    logger.warning(
                        "a finished job was no longer this host's; another attempt runs or will run elsewhere",
                        metadata: ["job_id": "\(finish.id)", "code": "\(code)"])
                }
                for job in result.jobs { start(job, group: &group) }
                free -= result.jobs.count
                mayHaveWork = want > 0 && result.jobs.count == want
                nextDue = result.nextDueMilliseconds
                continue
            }
            if free > 0, !stopping, markerWaiter == nil {
                let due = nextDue
                markerWaiter = Task { await self.waitForMarker(nextDue: due) }
            }
            _ = await signalIterator.next()
        }
    }

    private var isHandingBack: Bool { state.withLock { $0.handBackNow } }

    /// The running jobs, taken from their calls: the calls are cancelled and
    /// their outcomes will be ignored.
    private func takeBackRunningJobs() -> [(finish: JobFinish, run: Int)] {
        let running = state.withLock { state -> [String: RunningJob] in
            defer { state.running.removeAll() }
            return state.running
        }
        if !running.isEmpty {
            logger.notice("handing running jobs back to the queue", metadata: ["count": "\(running.count)"])
        }
        return running.map { id, job in
            job.call?.cancel()
            return (JobFinish(id: id, token: job.token, kind: .handBack), job.run)
        }
    }

    // MARK: - Jobs

    private func start(_ job: TakenJob, group: inout DiscardingTaskGroup) {
        let options: JobOptions
        switch job.options {
        case .success(let value):
            options = value
        case .failure(let invalid):
            // Options no attempt could honour (another producer's, out of
            // range): the job fails alone, at once, under the job type's
            // settings, and says which option to fix.
            let reason = "\(invalid); the job cannot run with it (add it again with a valid value)"
            logger.warning("failing a job with options this host cannot honour", metadata: ["job_id": "\(job.id)", "error": "\(invalid)"])
            failAtOnce(job, reason: reason, keep: settings.retention.failed, attempts: settings.attempts, group: &group)
            return
        }
        let attempts = options.attempts ?? settings.attempts
        if let reason = job.deferredFailure {
            failAtOnce(job, reason: reason, keep: options.removeOnFail ?? settings.retention.failed, attempts: attempts, group: &group)
            return
        }
        let plugin: PluginInstance
        switch plugins.choose(forJobType: settings.name, payloadJSON: job.dataJSON) {
        case .success(.instance(let chosen)):
            plugin = chosen
        case .success(.each(let names)):
            fanOut(job, to: names, options: options, group: &group)
            return
        case .failure(let refusal):
            logger.warning("no plugin instance can run a job", metadata: ["job_id": "\(job.id)", "error": "\(refusal)"])
            failAtOnce(job, reason: refusal.message, keep: options.removeOnFail ?? settings.retention.failed, attempts: attempts, group: &group)
            return
        }
        let pluginLabel = plugins.labels[plugin.name] ?? plugin.name
        let router = plugins.router
        // A routed job keeps its instance from its first attempt on: a retry
        // (or the count of downloads in flight at a reload) finds it in the data.
        let routedData = router?.mark(payloadJSON: job.dataJSON, ofJobType: settings.name, for: plugin.name) ?? job.dataJSON
        let run = job.run
        state.withLock { $0.running[job.id] = RunningJob(token: job.token, run: run) }
        let input = PluginJob(
            id: job.id, type: settings.name, attempt: job.attemptsMade + 1, maxAttempts: attempts,
            payloadJSON: routedData, createdAtMilliseconds: job.timestamp)
        // A job that was in flight when a runner died beside others runs alone, in quarantine.
        let suspect = plugin.runner != nil && TakenJob.count(job.fields[Self.suspectField]) > 0
        group.addTask { [self] in
            if routedData != job.dataJSON {
                do {
                    _ = try await queue.replaceData(jobID: job.id, dataJSON: routedData, token: job.token)
                } catch {
                    logger.warning("could not record the job's instance; a retry is routed again", metadata: ["job_id": "\(job.id)", "error": "\(error)"])
                }
            }
            await history?.started(jobType: settings.name, job: job, run: run, maxAttempts: attempts, plugin: pluginLabel)
            var outcome = await plugin.execute(
                input, on: executor, timeout: settings.timeout, cancelGrace: queueSettings.cancelGrace, effects: effects,
                suspect: suspect,
                call: { call in self.state.withLock { $0.running[job.id]?.call = call } })
            if let crash = outcome.crash { await judgeCrash(crash, of: job.id, plugin: plugin, outcome: &outcome) }
            if let router {
                // What comes after this job finds the instance that ran it.
                outcome.report.effects = router.mark(outcome.report.effects, for: plugin.name)
                if let payload = outcome.payloadJSON {
                    outcome.payloadJSON = router.mark(payloadJSON: payload, ofJobType: settings.name, for: plugin.name)
                }
            }
            counters.duration?.recordNanoseconds(outcome.duration.milliseconds.multipliedSaturating(by: 1_000_000))
            await record(outcome, of: job.id)
            let resolution = AttemptResolution(
                outcome: outcome, options: options, attemptsMade: job.attemptsMade, settings: settings,
                random: Double.random(in: 0..<1))
            let finish = JobFinish(
                id: job.id, token: job.token, kind: resolution.kind, keep: resolution.keep, attempts: resolution.attempts)
            if state.withLock({ $0.running[job.id]?.token == job.token }) {
                await history?.finished(
                    jobType: settings.name, jobID: job.id, run: run, attemptsMade: job.attemptsMade, resolution: resolution,
                    outcome: outcome, plugin: plugin.name)
            }
            // Effects take place with the outcome: all of them when the job is
            // done; request transitions also when its last attempt has failed
            // and when it is rescheduled (a poller's progress). A rescheduled
            // job's enqueues are dropped: it has not finished.
            var effects: [PluginEffect] = []
            switch resolution.kind {
            case .completed: effects = outcome.report.effects
            case .reschedule:
                effects = outcome.report.effects.filter { if case .requestTransition = $0 { true } else { false } }
            case .failed(let reason):
                effects = outcome.report.effects.filter { if case .requestTransition = $0 { true } else { false } }
                // Unless the plugin left the request at rest (failed, or
                // awaiting something), a job that failed for good fails its
                // request: a request never stays `downloading` with no job on it.
                let leftAtRest = effects.contains { effect in
                    if case .requestTransition(_, let status, _) = effect { !status.isUnderWay } else { false }
                }
                if !leftAtRest, let request = JobHistory.requestID(in: job.dataJSON) {
                    effects.append(.requestTransition(requestID: request, status: .failed, detailsJSON: Self.reasonJSON(reason)))
                }
            default: break
            }
            // The slot stays taken while the plugin's thread is: a call that
            // ignored its timeout costs this job type a slot (and never
            // another type's thread) until it returns.
            let stuck = outcome.abandonedCall
            let taken = state.withLock { state -> Bool in
                guard state.running.removeValue(forKey: job.id) != nil else { return false }
                state.completions.append(
                    Completion(finish: finish, effects: effects, jobType: settings.name, freesSlot: stuck == nil))
                return true
            }
            if taken { signal.yield() }
            if let stuck {
                logger.warning(
                    "a plugin call did not stop after its timeout; this job type runs with one slot fewer until it returns",
                    metadata: ["job_id": "\(job.id)", "plugin": "\(plugin.name)"])
                await stuck.waitUntilReturned()
            }
            // A job whose lock was lost or that was handed back added no
            // completion: its slot comes back once its call has returned.
            if stuck != nil || !taken {
                state.withLock { $0.freedSlots += 1 }
                signal.yield()
            }
        }
    }

    /// Fails `job` without running it (it stalled too often, or its options
    /// are unusable), and its request with it.
    private func failAtOnce(_ job: TakenJob, reason: String, keep: RetentionRule, attempts: Int, group: inout DiscardingTaskGroup) {
        let finish = JobFinish(id: job.id, token: job.token, kind: .failed(reason: reason), keep: keep, attempts: attempts)
        let run = job.run
        var effects: [PluginEffect] = []
        if let request = JobHistory.requestID(in: job.dataJSON) {
            effects = [.requestTransition(requestID: request, status: .failed, detailsJSON: Self.reasonJSON(reason))]
        }
        group.addTask { [self] in
            await history?.failedByHost(jobType: settings.name, jobID: job.id, run: run, attempts: job.attemptsMade + 1, reason: reason)
            state.withLock { $0.completions.append(Completion(finish: finish, effects: effects, jobType: settings.name)) }
            signal.yield()
        }
    }

    /// Completes `job` without running it, by adding one job per instance of
    /// `names`, each marked with its instance (a job type that runs once on
    /// every library backend, say). The new jobs' ids derive from this one's,
    /// so a rerun adds none twice.
    private func fanOut(_ job: TakenJob, to names: [String], options: JobOptions, group: inout DiscardingTaskGroup) {
        guard let router = plugins.router else { return }
        // Ids by instance, not by position: a rerun after the list changed adds each backend's job once.
        let effects = names.map { name in
            PluginEffect.enqueue(
                jobType: settings.name, payloadJSON: router.mark(payloadJSON: job.dataJSON, ofJobType: settings.name, for: name),
                options: FollowUpOptions(
                    priority: options.priority > 0 ? options.priority : nil, jobID: "fu-\(settings.name)-\(job.id)-\(name)"))
        }
        let result = Self.resultJSON(["fanned_out": names])
        let finish = JobFinish(
            id: job.id, token: job.token, kind: .completed(resultJSON: result),
            keep: options.removeOnComplete ?? settings.retention.completed, attempts: options.attempts ?? settings.attempts)
        let run = job.run
        group.addTask { [self] in
            await history?.completedByHost(
                jobType: settings.name, jobID: job.id, run: run, attempts: job.attemptsMade + 1, resultJSON: result,
                message: "one job added for each of \(names.joined(separator: ", "))")
            state.withLock { $0.completions.append(Completion(finish: finish, effects: effects, jobType: settings.name)) }
            signal.yield()
        }
    }

    static func resultJSON(_ object: [String: [String]]) -> String {
        (try? JSONEncoder().encode(object)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }

    /// The job hash's count of runner deaths it was in flight for (a suspect).
    static let suspectField = "pcs"
    /// The job hash's count of runner deaths while it ran alone (its doing).
    static let crashField = "pcr"

    /// Records a runner's death under job `id` in its hash (in Redis, so that
    /// every host sees it): a suspect, and when it ran alone, one more death
    /// of its own doing. At the plugin's `max_crashes` such deaths the job is
    /// poison: it fails for good, saying so, and is not run again.
    private func judgeCrash(_ crash: PluginCrash, of id: String, plugin: PluginInstance, outcome: inout PluginCallOutcome) async {
        let key = queue.key(id)
        let replies = try? await queue.client.pipeline([
            ["HINCRBY", key, Self.suspectField, "1"], crash.alone ? ["HINCRBY", key, Self.crashField, "1"] : ["HGET", key, Self.crashField],
        ])
        let deaths = replies.map { TakenJob.count($0[1].text ?? $0[1].int.map(String.init)) } ?? 0
        let limit = plugin.plugin.isolation.maxCrashes
        logger.error(
            "a plugin runner died under a job", metadata: ["job_id": "\(id)", "cause": "\(crash.death)", "alone": "\(crash.alone)",
                "deaths_alone": "\(deaths)", "max_crashes": "\(limit)"])
        guard crash.alone, deaths >= limit else { return }
        outcome.kind = .fail
        outcome.message =
            "poison job: plugin \(plugin.plugin.info.id) crashed (\(crash.death)) while running this job alone \(deaths) time(s) "
            + "(max_crashes \(limit)); it is not run again"
    }

    static func reasonJSON(_ reason: String) -> String? {
        (try? JSONEncoder().encode(["reason": reason])).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Writes what the plugin logged and its last progress to the job in Redis.
    private func record(_ outcome: PluginCallOutcome, of jobID: String) async {
        let lines = outcome.report.events.map { event in
            "[\(event.level.rawValue)] \(event.message)" + (event.metadataJSON.map { " \($0)" } ?? "")
        }
        if outcome.timedOut { logger.warning("job timed out", metadata: ["job_id": "\(jobID)"]) }
        do {
            try await queue.appendLog(jobID: jobID, lines: lines)
            if let progress = outcome.report.progress {
                let json = progress.detailsJSON.map { #"{"percent":\#(progress.percent),"details":\#($0)}"# } ?? "\(progress.percent)"
                try await queue.recordProgress(jobID: jobID, json: json)
            }
        } catch {
            logger.warning("could not record the job's log", metadata: ["job_id": "\(jobID)", "error": "\(error)"])
        }
    }

    // MARK: - Waking up

    /// Waits on the queue's marker until a job may be ready: a "ready" marker,
    /// a delayed job coming due, or the drain delay passing. Then wakes the loop.
    private func waitForMarker(nextDue: Int64) async {
        defer {
            state.withLock { $0.markerFired = true }
            signal.yield()
        }
        var due = nextDue
        while !Task.isCancelled {
            let now = JobQueue.nowMilliseconds
            var wait = queueSettings.drainDelay
            if due > 0 {
                if due <= now { return }
                wait = min(wait, .milliseconds(due.subtractingSaturating(now)))
            }
            let seconds = String(format: "%.3f", max(0.01, Double(wait.milliseconds) / 1000))
            let readTimeout = queueSettings.drainDelay + .seconds(10)
            let reply = try? await queue.client.withReconnect("wait for jobs", shouldGiveUp: { Task.isCancelled }) {
                () throws(RedisError) in
                try await self.blockingConnection(readTimeout: readTimeout) { connection throws(RedisError) in
                    try connection.send(["BZPOPMIN", self.queue.key("marker"), seconds])
                }
            }
            guard let reply, case .array(let items) = reply, items.count == 3, let score = items[2].text.flatMap(Double.init)
            else { return }  // timed out: look anyway
            // Any producer may write the marker: a score that is no time reads as "look now".
            let time = Int64(saturating: score)
            if time <= JobQueue.nowMilliseconds { return }
            due = time  // a delayed job's due time: wait for it
        }
    }

    private let markerConnection = Mutex<RedisConnectionBox?>(nil)

    /// Runs `body` on this worker's own blocking connection (BZPOPMIN must not
    /// hold a pooled one), opening it when needed.
    private func blockingConnection(
        readTimeout: Duration, _ body: @escaping @Sendable (RedisConnection) throws(RedisError) -> RedisValue
    ) async throws(RedisError) -> RedisValue {
        let existing = markerConnection.withLock { $0 }
        let box: RedisConnectionBox
        if let existing, !existing.connection.isBroken {
            box = existing
        } else {
            box = try await queue.client.dedicatedConnection(readTimeout: readTimeout)
            markerConnection.withLock { $0 = box }
        }
        let result = await queue.client.executor.run { () -> Result<RedisValue, RedisError> in
            do throws(RedisError) { return .success(try body(box.connection)) } catch { return .failure(error) }
        }
        switch result {
        case .success(let value)?:
            queue.client.note(nil)
            return value
        case .failure(let error)?:
            queue.client.note(error)
            throw error
        case nil: throw .connection("the host is shutting down")
        }
    }

    // MARK: - Locks and stalled jobs

    private func renewLocksPeriodically() async {
        let interval = queueSettings.lockDuration / 2
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            if Task.isCancelled { return }
            let held = state.withLock { $0.running.map { (id: $0.key, token: $0.value.token) } }
            guard !held.isEmpty else { continue }
            do {
                let lost = try await queue.extendLocks(held, lockDuration: queueSettings.lockDuration)
                let lostTokens = Dictionary(held.filter { lost.contains($0.id) }.map { ($0.id, $0.token) }) { first, _ in first }
                for (id, token) in lostTokens {
                    logger.warning("lost the lock of a running job; stopping it", metadata: ["job_id": "\(id)"])
                    // Its slot comes back when its call returns (the job's task sees it gone).
                    let call = state.withLock { state -> PluginCall? in
                        guard state.running[id]?.token == token else { return nil }
                        return state.running.removeValue(forKey: id)?.call
                    }
                    call?.cancel()
                }
                if !lostTokens.isEmpty { signal.yield() }
            } catch where !Task.isCancelled {
                logger.warning("could not renew job locks", metadata: ["error": "\(error)"])
            } catch {
                return
            }
        }
    }

    private func checkStalledPeriodically() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: queueSettings.stalledInterval)
            if Task.isCancelled { return }
            do {
                let recovered = try await queue.recoverStalled(
                    interval: queueSettings.stalledInterval, maxStalledCount: queueSettings.maxStalledCount)
                if !recovered.isEmpty {
                    logger.notice("recovered stalled jobs", metadata: ["job_ids": "\(recovered.joined(separator: ","))"])
                    if let history {
                        // The run each stalled in, for its history: the attempts started so far.
                        let runs = (try? await queue.client.pipeline(recovered.map { ["HGET", queue.key($0), "ats"] })) ?? []
                        let jobs = recovered.enumerated().map { index, id in
                            (id, index < runs.count ? TakenJob.count(runs[index].text ?? runs[index].int.map(String.init)) : 0)
                        }
                        await history.stalled(jobType: settings.name, jobs: jobs)
                    }
                    state.withLock { $0.recovered = true }
                    signal.yield()
                }
            } catch where !Task.isCancelled {
                logger.warning("stalled check failed", metadata: ["error": "\(error)"])
            } catch {
                return
            }
        }
    }
}
