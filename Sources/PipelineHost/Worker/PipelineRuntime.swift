import Foundation
import PipelinePayloads
import Logging
import ServiceLifecycle
import Synchronization

/// A running host: one ``QueueWorker`` per job type of a validated
/// configuration, its plugins started, its Redis connections open.
///
/// As a `Service` it runs until a graceful shutdown (SIGTERM or SIGINT under
/// a `ServiceGroup`), then stops taking jobs, lets running ones finish within
/// `queue.shutdown_grace`, and hands the rest back.
public final class PipelineRuntime: Service, Sendable {
    public let configuration: PipelineConfiguration
    /// This host's id: part of every lock token it writes.
    public let hostID: String
    public let redis: RedisClient
    let pluginExecutor: BlockingExecutor
    let redisExecutor: BlockingExecutor
    private let workers: [QueueWorker]
    private let instances: [PluginInstance]
    public let queues: [String: JobQueue]
    /// The history writer and the request ledger, when postgres.enabled.
    public let history: HistoryWriter?
    public let ledger: RequestLedger?
    /// The history database client, when postgres.enabled.
    public let postgres: PostgresClient?
    private let jobHistory: JobHistory?
    /// The host's metrics, emitted by the admin API's `/metrics`.
    public let metrics: RuntimeMetrics
    private let logger: Logger

    /// Starts every plugin (its `init`, on a worker thread) and prepares a
    /// worker per job type. Jobs are taken only once ``run()`` runs.
    public static func start(
        _ validated: PipelineValidator.Result, hostID: String = PipelineRuntime.defaultHostID(), logger: Logger
    ) async throws -> PipelineRuntime {
        let configuration = validated.configuration
        let url = try RedisURL(parsing: configuration.redis.url)
        let totalConcurrency = configuration.jobs.reduce(0) { $0 + $1.concurrency }
        let pluginExecutor = BlockingExecutor(threads: totalConcurrency + 2)
        let redisExecutor = BlockingExecutor(threads: configuration.jobs.count * 3 + 4)
        var instances: [String: PluginInstance] = [:]
        for entry in configuration.plugins {
            guard let plugin = validated.plugins.plugin(named: entry.name) else { continue }
            let started = await pluginExecutor.run {
                Result { () throws(PluginLoadError) in
                    try plugin.start(name: entry.name, configJSON: entry.configJSON, logger: logger)
                }
            }
            switch started {
            case .success(let instance)?: instances[entry.name] = instance
            case .failure(let error)?: throw error
            case nil: throw QueueError.unexpected("the host is shutting down")
            }
        }
        return PipelineRuntime(
            configuration: configuration, hostID: hostID, url: url, pluginExecutor: pluginExecutor,
            redisExecutor: redisExecutor, instances: instances, logger: logger)
    }

    private init(
        configuration: PipelineConfiguration, hostID: String, url: RedisURL, pluginExecutor: BlockingExecutor,
        redisExecutor: BlockingExecutor, instances: [String: PluginInstance], logger: Logger
    ) {
        self.configuration = configuration
        self.hostID = hostID
        self.pluginExecutor = pluginExecutor
        self.redisExecutor = redisExecutor
        var logger = logger
        logger[metadataKey: "host"] = "\(hostID)"
        self.logger = logger
        let runtimeMetrics = RuntimeMetrics()
        metrics = runtimeMetrics
        var requestLedger: RequestLedger?
        var recorder: JobHistory?
        if configuration.postgres.enabled,
            let client = try? PostgresClient(
                url: configuration.postgres.url, schema: configuration.postgres.schema,
                executor: BlockingExecutor(threads: 4), logger: logger)
        {
            postgres = client
            let writer = HistoryWriter(client: client, logger: logger)
            history = writer
            requestLedger = RequestLedger(client: client)
            ledger = requestLedger
            recorder = JobHistory(writer: writer, host: hostID)
            jobHistory = recorder
        } else {
            postgres = nil
            history = nil
            ledger = nil
            jobHistory = nil
        }
        let clientName = "\(configuration.redis.prefix):pipeline-host:\(hostID)"
        redis = RedisClient(url: url, name: clientName, executor: redisExecutor, maxIdleConnections: 16, logger: logger)
        var queues: [String: JobQueue] = [:]
        var targets: [String: (queue: JobQueue, settings: JobTypeConfiguration)] = [:]
        for job in configuration.jobs {
            let queue = JobQueue(name: job.name, prefix: configuration.redis.prefix, client: redis)
            queues[job.name] = queue
            targets[job.name] = (queue, job)
        }
        self.queues = queues
        let followUps = FollowUpDispatcher(targets: targets, ledger: requestLedger, history: recorder, logger: logger)
        let effects = PluginEffectPolicy(
            enqueue: .jobTypes(followUps.jobTypes), offersRequestTransitions: true,
            checkTransition: requestLedger.map { PipelineRuntime.transitionCheck($0) },
            findRequests: requestLedger.map { PipelineRuntime.requestFinder($0) })
        // A job type with concurrency 0 is paused on this host: its jobs can
        // be added (and wait), but this host takes none.
        workers = configuration.jobs.compactMap { job in
            guard job.concurrency > 0, let instance = instances[job.plugin], let queue = queues[job.name] else { return nil }
            return QueueWorker(
                settings: job, queue: queue, plugin: instance, executor: pluginExecutor,
                queueSettings: configuration.queue, hostID: hostID, effects: effects, followUps: followUps,
                history: recorder, metrics: runtimeMetrics, logger: logger)
        }
        self.instances = Array(instances.values)
    }

    /// `find_requests` for plugins, on the plugin's thread.
    static func requestFinder(_ ledger: RequestLedger) -> @Sendable (RequestQuery) -> Result<[RequestSnapshot], RequestLedgerError> {
        { query in
            do throws(RequestLedgerError) {
                return .success(try ledger.findSync(query))
            } catch {
                return .failure(error)
            }
        }
    }

    /// The at-once check of a plugin's transition request, on the plugin's
    /// thread. If PostgreSQL is away, the request is accepted now and checked
    /// again when the job's outcome applies it.
    static func transitionCheck(_ ledger: RequestLedger) -> @Sendable (String, [RequestStatus]) -> String? {
        { requestID, path in
            guard let verdict = try? ledger.wouldAccept(requestID, path: path) else { return nil }
            if case .refused(let reason) = verdict { return reason }
            return nil
        }
    }

    /// A host id unique to this process: the host name, the pid and a random part.
    public static func defaultHostID() -> String {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "host"
        return "\(host)-\(getpid())-\(UUID().uuidString.prefix(6).lowercased())"
    }

    /// Runs every worker until a graceful shutdown, then settles their jobs,
    /// stops the plugins and returns.
    public func run() async throws {
        logger.info("pipeline-host running", metadata: ["job_types": "\(workers.count)", "redis": "\(redis.url)"])
        let historyTask = Task { await runHistory() }
        try await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                for worker in workers {
                    group.addTask { await worker.run() }
                }
            }
        } onGracefulShutdown: {
            self.beginStop()
        }
        historyTask.cancel()
        await historyTask.value
        await flushHistoryBeforeExit()
        for instance in instances { await instance.shutdown() }
        await pluginExecutor.shutdown()
        await redisExecutor.shutdown()
        logger.info("pipeline-host stopped")
    }

    /// Writes the history still buffered, from this (not cancelled) context:
    /// calls made from a cancelled task are refused by the executor. Tries
    /// for up to 20 s if PostgreSQL is away, then says what is lost.
    private func flushHistoryBeforeExit() async {
        guard let history else { return }
        let deadline = ContinuousClock.now + .seconds(20)
        while history.pendingCount > 0, ContinuousClock.now < deadline {
            await history.flush()
        }
        if history.pendingCount > 0 {
            logger.error(
                "PostgreSQL did not answer before exit; job history not written",
                metadata: ["records": "\(history.pendingCount)"])
        }
    }

    /// Migrates the history schema (retrying while PostgreSQL is away), then
    /// writes history until cancelled, and once more after.
    private func runHistory() async {
        guard let postgres, let history else { return }
        var delay = Duration.milliseconds(200)
        var warned = false
        while !Task.isCancelled {
            do {
                let applied = try await Migrations.run(on: postgres)
                if !applied.isEmpty { logger.notice("history schema migrated", metadata: ["versions": "\(applied)"]) }
                break
            } catch {
                if !warned {
                    logger.warning("cannot migrate the history schema yet; history is buffered", metadata: ["error": "\(error)"])
                    warned = true
                }
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
        let scheduler = configuration.jobs.contains { $0.schedule != nil } ? self.scheduler : nil
        await withDiscardingTaskGroup { group in
            group.addTask { await history.run() }
            if let scheduler { group.addTask { await scheduler.run() } }
            if let jobHistory { group.addTask { await self.repairHistory(postgres, jobHistory) } }
        }
    }

    /// Rows that say a job is still running while Redis has finished it:
    /// what a host killed between finishing a job and writing its history
    /// leaves. Looked for at start and then every stalled interval, among
    /// rows older than a lock; a job Redis holds as completed or failed is
    /// final, so the repair never moves a row the wrong way.
    private func repairHistory(_ postgres: PostgresClient, _ jobHistory: JobHistory) async {
        while !Task.isCancelled {
            do {
                // Older than a lock: a live host writes its outcome well within that.
                let age = Double(configuration.queue.lockDuration.components.seconds)
                    + Double(configuration.queue.lockDuration.components.attoseconds) / 1e18
                let rows = try await postgres.query(
                    """
                    SELECT job_type, job_id FROM jobs WHERE status IN ('active', 'stuck')
                    AND updated_at < now() - make_interval(secs => $1::double precision) ORDER BY updated_at LIMIT 500
                    """, [String(age)])
                var repaired = 0
                for row in rows.rows {
                    guard let type = row[0], let id = row[1], let queue = queues[type],
                        let snapshot = try? await queue.job(id), snapshot.state == .completed || snapshot.state == .failed
                    else { continue }
                    await jobHistory.reconciled(jobType: type, snapshot: snapshot)
                    repaired += 1
                }
                if repaired > 0 { logger.notice("history repaired from Redis", metadata: ["jobs": "\(repaired)"]) }
            } catch {
                logger.debug("history repair skipped", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: max(.seconds(1), configuration.queue.stalledInterval))
        }
    }

    /// The scheduler of this host's schedules, when postgres.enabled.
    public var scheduler: Scheduler? {
        postgres.map { Scheduler(client: $0, runtime: self, logger: logger) }
    }

    /// Stops taking jobs; ``run()`` returns once running jobs are settled.
    public func beginStop() {
        logger.info("stopping: no new jobs; running jobs may finish", metadata: ["grace": "\(DurationSyntax.format(configuration.queue.shutdownGrace))"])
        for worker in workers { worker.beginStop() }
    }

    /// The counters of the worker of `jobType`.
    public func counters(for jobType: String) -> JobCounters? {
        workers.first { $0.settings.name == jobType }?.counters
    }

    /// Removes the jobs of request `id` that are still waiting or delayed
    /// (not the running ones: they see the request cancelled when they ask to
    /// move it), and marks their rows cancelled. Returns their ids.
    public func removeQueuedJobs(ofRequest id: String) async throws -> [String] {
        guard let postgres else { return [] }
        let rows = try await postgres.query(
            "SELECT job_type, job_id FROM jobs WHERE request_id = $1 AND status IN ('pending', 'delayed')", [id])
        var removed: [String] = []
        for index in 0..<rows.count {
            guard let type = rows[index, "job_type"], let job = rows[index, "job_id"], let queue = queues[type] else { continue }
            if try await queue.removeIfQueued(job) {
                removed.append(job)
                try await postgres.query(
                    "UPDATE jobs SET status = 'cancelled', updated_at = now() WHERE job_type = $1 AND job_id = $2", [type, job])
            }
        }
        return removed
    }

    /// The jobs running on this host now, by job type.
    public var runningJobs: [String: Int] {
        Dictionary(uniqueKeysWithValues: workers.map { ($0.settings.name, $0.runningCount) })
    }

    /// Adds a job of `jobType` with the job type's settings, overridden by `options`.
    public func enqueue(_ jobType: String, payloadJSON: String, adjust: (inout JobOptions) -> Void = { _ in })
        async throws(QueueError) -> String
    {
        guard let queue = queues[jobType], let settings = configuration.job(named: jobType) else {
            throw .unknownJobType(jobType)
        }
        var options = JobOptions(for: settings)
        adjust(&options)
        let id = try await queue.add(dataJSON: payloadJSON, options: options)
        await jobHistory?.enqueued(jobType: jobType, id: id, payloadJSON: payloadJSON, options: options)
        return id
    }
}
