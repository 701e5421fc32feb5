import Foundation
import PipelinePayloads
import PluginABI
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
    /// This host's id: part of every lock token it writes.
    public let hostID: String
    public let redis: RedisClient
    let redisExecutor: BlockingExecutor
    /// What the configuration in force decides: its workers and plugins.
    /// A reload replaces it (``reload()``).
    private let current: Mutex<RuntimeState>
    /// Workers of reloads, for ``run()`` to run.
    private let arrivals: AsyncStream<QueueWorker>
    private let arrival: AsyncStream<QueueWorker>.Continuation
    /// Generations replaced by a reload whose jobs are still finishing.
    private let retiring = Mutex<[Task<Void, Never>]>([])
    /// Where a reload reads the configuration from; nil: reload is refused.
    let reloadSource: ReloadSource?
    /// One reload at a time.
    let reloadGate = AsyncGate()
    /// The history writer and the request ledger, when postgres.enabled.
    public let history: HistoryWriter?
    public let ledger: RequestLedger?
    /// The history database client, when postgres.enabled.
    public let postgres: PostgresClient?
    /// Set once the history schema is migrated.
    private let schemaReady = Atomic<Bool>(false)
    /// Whether requests and history can be read and written: the schema is
    /// migrated (always true with postgres.enabled false). `/healthz` says
    /// `starting` until then.
    public var isHistoryReady: Bool { postgres == nil || schemaReady.load(ordering: .acquiring) }
    let jobHistory: JobHistory?
    /// The host's metrics, emitted by the admin API's `/metrics`.
    public let metrics: RuntimeMetrics
    let logger: Logger

    /// The configuration in force: the one the host started with, or the last reloaded.
    public var configuration: PipelineConfiguration { current.withLock { $0.generation.configuration } }
    /// A queue per job type of the configuration in force.
    public var queues: [String: JobQueue] { current.withLock { $0.generation.queues } }
    /// The plugins the configuration in force runs, by their pipeline.yaml name.
    public var plugins: [String: PluginInstance] { current.withLock { $0.generation.instances } }
    private var workers: [QueueWorker] { current.withLock { $0.generation.workers } }

    /// Starts every plugin (its `init`, on a worker thread) and prepares a
    /// worker per job type. Jobs are taken only once ``run()`` runs.
    ///
    /// - Parameter reloadSource: where ``reload()`` reads the configuration
    ///   from (SIGHUP, `POST /api/admin/reload`); nil refuses reloads.
    public static func start(
        _ validated: PipelineValidator.Result, hostID: String = PipelineRuntime.defaultHostID(), logger: Logger,
        reloadSource: ReloadSource? = nil
    ) async throws -> PipelineRuntime {
        let configuration = validated.configuration
        let url = try RedisURL(parsing: configuration.redis.url)
        let redisExecutor = BlockingExecutor(threads: configuration.jobs.count * 3 + 4)
        let executor = RuntimeGeneration.makeExecutor()
        let runtime = PipelineRuntime(
            configuration: configuration, hostID: hostID, url: url, redisExecutor: redisExecutor, executor: executor,
            logger: logger, reloadSource: reloadSource)
        do {
            let (instances, _) = try await runtime.startPlugins(validated, reusing: [:], on: executor)
            let generation = runtime.makeGeneration(configuration, instances: instances, executor: executor)
            runtime.current.withLock { $0.generation = generation }
        } catch {
            await executor.shutdown()
            await redisExecutor.shutdown()
            throw error
        }
        return runtime
    }

    private init(
        configuration: PipelineConfiguration, hostID: String, url: RedisURL, redisExecutor: BlockingExecutor,
        executor: BlockingExecutor, logger: Logger, reloadSource: ReloadSource?
    ) {
        self.hostID = hostID
        self.redisExecutor = redisExecutor
        self.reloadSource = reloadSource
        var logger = logger
        logger[metadataKey: "host"] = "\(hostID)"
        self.logger = logger
        metrics = RuntimeMetrics()
        if configuration.postgres.enabled,
            let client = try? PostgresClient(
                url: configuration.postgres.url, schema: configuration.postgres.schema,
                executor: BlockingExecutor(threads: 4), logger: logger)
        {
            postgres = client
            let writer = HistoryWriter(client: client, logger: logger)
            history = writer
            ledger = RequestLedger(client: client)
            jobHistory = JobHistory(writer: writer, host: hostID)
        } else {
            postgres = nil
            history = nil
            ledger = nil
            jobHistory = nil
        }
        let clientName = "\(configuration.redis.prefix):pipeline-host:\(hostID)"
        redis = RedisClient(url: url, name: clientName, executor: redisExecutor, maxIdleConnections: 16, logger: logger)
        (arrivals, arrival) = AsyncStream.makeStream(of: QueueWorker.self)
        current = Mutex(RuntimeState(generation: RuntimeGeneration.empty(configuration, executor: executor)))
    }

    /// Starts the plugins of `validated`, except those `reusable` already
    /// runs with the same file, build and config, which are kept.
    ///
    /// - Returns: the instances by name, and the names of those started anew.
    /// - Throws: the first ``PluginLoadError``; the instances started before it are shut down.
    func startPlugins(
        _ validated: PipelineValidator.Result, reusing reusable: [String: PluginInstance], on executor: BlockingExecutor
    ) async throws -> (instances: [String: PluginInstance], started: [String]) {
        var instances: [String: PluginInstance] = [:]
        var started: [String] = []
        for entry in validated.configuration.plugins {
            guard let plugin = validated.plugins.plugin(named: entry.name) else { continue }
            if let running = reusable[entry.name], running.plugin.path == plugin.path, running.plugin.build == plugin.build,
                running.configJSON == entry.configJSON, running.plugin.isolation == plugin.isolation
            {
                instances[entry.name] = running
                continue
            }
            let logger = logger
            let metrics = metrics
            let result = await executor.run {
                Result { () throws(PluginLoadError) in
                    try plugin.start(
                        name: entry.name, configJSON: entry.configJSON, logger: logger,
                        onRunnerDeath: { cause in metrics.runnerRestarted(plugin: entry.name, cause: cause) })
                }
            }
            do {
                switch result {
                case .success(let instance)?:
                    instances[entry.name] = instance
                    started.append(entry.name)
                case .failure(let error)?: throw error
                case nil: throw QueueError.unexpected("the host is shutting down")
                }
            } catch {
                for name in started { await instances[name]?.shutdown() }
                throw error
            }
        }
        return (instances, started)
    }

    /// The workers, queues and follow-up rules of `configuration`, over `instances`.
    func makeGeneration(
        _ configuration: PipelineConfiguration, instances: [String: PluginInstance], executor: BlockingExecutor
    ) -> RuntimeGeneration {
        var queues: [String: JobQueue] = [:]
        var targets: [String: (queue: JobQueue, settings: JobTypeConfiguration)] = [:]
        for job in configuration.jobs {
            let queue = JobQueue(name: job.name, prefix: configuration.redis.prefix, client: redis)
            queues[job.name] = queue
            targets[job.name] = (queue, job)
        }
        let followUps = FollowUpDispatcher(targets: targets, ledger: ledger, history: jobHistory, logger: logger)
        var effects = PluginEffectPolicy(
            enqueue: .jobTypes(followUps.jobTypes), offersRequestTransitions: true,
            checkTransition: ledger.map { PipelineRuntime.transitionCheck($0) },
            findRequests: ledger.map { PipelineRuntime.requestFinder($0) })
        effects.downloadProtocols = Self.downloadProtocols(configuration, instances: instances)
        // A job type with concurrency 0 is paused on this host: its jobs can
        // be added (and wait), but this host takes none.
        let downloads = Self.downloadPlugins(configuration, instances: instances)
        let libraries = Self.libraryPlugins(configuration, instances: instances)
        let workers = configuration.jobs.compactMap { job -> QueueWorker? in
            guard job.concurrency > 0, let queue = queues[job.name] else { return nil }
            let plugins: JobPlugins
            if job.plugin == DownloadClientRoute.listName, let downloads {
                plugins = downloads
            } else if job.plugin == LibraryBackendRoute.listName, let libraries {
                plugins = libraries
            } else if let instance = instances[job.plugin] {
                plugins = JobPlugins(instance)
            } else {
                return nil
            }
            return QueueWorker(
                settings: job, queue: queue, plugins: plugins, executor: BlockingExecutor(threads: job.concurrency),
                queueSettings: configuration.queue, hostID: hostID, effects: effects, followUps: followUps,
                history: jobHistory, metrics: metrics, logger: logger)
        }
        return RuntimeGeneration(
            configuration: configuration, queues: queues, workers: workers, instances: instances, executor: executor)
    }

    /// The PP_PROTOCOL_* bits of what the pipeline can download now: the
    /// protocols of the download clients that take new downloads, or of the
    /// plugin bound to download_torrent (a driver's table; torrent for a
    /// plugin that runs the job itself).
    static func downloadProtocols(_ configuration: PipelineConfiguration, instances: [String: PluginInstance]) -> UInt32 {
        func bits(_ names: [String]) -> UInt32 {
            names.reduce(0) { $0 | ($1 == "usenet" ? PP_PROTOCOL_USENET : $1 == "torrent" ? PP_PROTOCOL_TORRENT : 0) }
        }
        if !configuration.downloadClients.isEmpty {
            return bits(configuration.downloadClients.filter(\.acceptsNew).flatMap { $0.protocols.map(\.rawValue) })
        }
        guard let job = configuration.jobs.first(where: { $0.name == "download_torrent" }), let instance = instances[job.plugin] else {
            return 0
        }
        return bits(instance.plugin.info.interfaces.downloadClient?.protocols ?? ["torrent"])
    }

    /// The instances of `download_clients`, routed by a ``DownloadRouter``;
    /// nil when the configuration has no such list.
    static func downloadPlugins(_ configuration: PipelineConfiguration, instances: [String: PluginInstance]) -> JobPlugins? {
        guard !configuration.downloadClients.isEmpty else { return nil }
        let members = instances.filter { name, _ in configuration.downloadClients.contains { $0.plugin == name } }
        let router = DownloadRouter(
            clients: configuration.downloadClients, jobTypes: configuration.downloadJobTypes,
            kinds: members.mapValues { DownloadRouter.kind(ofPluginID: $0.plugin.info.id) })
        return JobPlugins(instances: members, router: router)
    }

    /// The instances of `library_backends`, each running every library job
    /// (``LibraryRouter``); nil when the configuration has no such list.
    static func libraryPlugins(_ configuration: PipelineConfiguration, instances: [String: PluginInstance]) -> JobPlugins? {
        guard !configuration.libraryBackends.isEmpty else { return nil }
        let members = instances.filter { name, _ in configuration.libraryBackends.contains { $0.plugin == name } }
        let router = LibraryRouter(backends: configuration.libraryBackends, jobTypes: configuration.libraryJobTypes)
        return JobPlugins(instances: members, router: router)
    }

    /// Puts `generation` in force: its workers start taking jobs at once;
    /// those of the generation it replaces take no more, finish what they
    /// run, and then the plugins no longer used are shut down.
    ///
    /// - Returns: false, and nothing changes, when the host is stopping.
    func install(_ generation: RuntimeGeneration) -> Bool {
        let previous = current.withLock { state -> RuntimeGeneration? in
            guard !state.isStopping else { return nil }
            defer {
                state.retired += state.generation.workers
                state.generation = generation
            }
            return state.generation
        }
        guard let previous else { return false }
        for worker in generation.workers { arrival.yield(worker) }
        for worker in previous.workers { worker.beginDrain() }
        let kept = Set(generation.instances.values.map(ObjectIdentifier.init))
        let logger = logger
        let retirement = Task {
            for worker in previous.workers { await worker.waitUntilEnded() }
            for (name, instance) in previous.instances where !kept.contains(ObjectIdentifier(instance)) {
                await instance.shutdown()
                logger.info("plugin retired after its last job", metadata: ["plugin": "\(name)", "path": "\(instance.plugin.path)"])
            }
            await previous.executor.shutdown()
        }
        retiring.withLock { $0.append(retirement) }
        return true
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

    /// Runs every worker until a graceful shutdown (and the workers of each
    /// reload as it comes), then settles their jobs, stops the plugins and returns.
    public func run() async throws {
        logger.info("pipeline-host running", metadata: ["job_types": "\(workers.count)", "redis": "\(redis.url)"])
        let historyTask = Task { await runHistory() }
        let initial = workers
        try await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                for worker in initial {
                    group.addTask { await worker.run() }
                }
                for await worker in arrivals {
                    group.addTask { await worker.run() }
                }
            }
        } onGracefulShutdown: {
            self.beginStop()
        }
        for retirement in retiring.withLock({ $0 }) { await retirement.value }
        historyTask.cancel()
        await historyTask.value
        await flushHistoryBeforeExit()
        let generation = current.withLock { $0.generation }
        for instance in generation.instances.values { await instance.shutdown() }
        await generation.executor.shutdown()
        await redisExecutor.shutdown()
        PluginImages.removeCopies()
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
                "PostgreSQL did not answer before exit: \(history.pendingCount) job history record(s) are not written",
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
                schemaReady.store(true, ordering: .releasing)
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

    /// Rows that say a job is still running while Redis has finished it, and
    /// jobs Redis finished that have no row: what a host killed between
    /// finishing a job and writing its history leaves. Looked for at start and then every stalled interval, among
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
                var candidates = rows.rows.compactMap { row in row[0].flatMap { type in row[1].map { (type, $0) } } }
                candidates += try await finishedWithoutRow(postgres, olderThan: age)
                var repaired = 0
                for (type, id) in candidates {
                    guard let queue = queues[type],
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

    /// Jobs Redis finished in the last ten minutes (but longer ago than
    /// `olderThan` seconds) that have no history row at all: a host killed
    /// before it wrote even the start of a job it ran to the end (jobs added
    /// by other BullMQ clients have no row before they start).
    private func finishedWithoutRow(_ postgres: PostgresClient, olderThan age: Double) async throws -> [(String, String)] {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var missing: [(String, String)] = []
        for (type, queue) in queues {
            let ids = try await queue.finishedJobIDs(from: now - 600_000, to: now - Int64(age * 1000), limit: 500)
            guard !ids.isEmpty else { continue }
            let known = try await postgres.query(
                "SELECT job_id FROM jobs WHERE job_type = $1 AND job_id = ANY($2::text[])",
                [type, "{" + ids.map(Self.arrayElement).joined(separator: ",") + "}"])
            let present = Set(known.rows.compactMap { $0[0] })
            missing += ids.filter { !present.contains($0) }.map { (type, $0) }
        }
        return missing
    }

    /// `text` as an element of a PostgreSQL array literal: quoted, with `\\` and `"` escaped.
    static func arrayElement(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    /// The scheduler of this host's schedules, when postgres.enabled.
    public var scheduler: Scheduler? {
        postgres.map { Scheduler(client: $0, runtime: self, logger: logger) }
    }

    /// Stops taking jobs; ``run()`` returns once running jobs are settled.
    public func beginStop() {
        logger.info("stopping: no new jobs; running jobs may finish", metadata: ["grace": "\(DurationSyntax.format(configuration.queue.shutdownGrace))"])
        // No reload after this; workers a reload is draining get the grace too.
        let (generation, draining) = current.withLock { state in
            defer { state.isStopping = true }
            return (state.generation, state.retired)
        }
        arrival.finish()
        for worker in generation.workers + draining { worker.beginStop() }
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

    /// The job types whose queue script keeps failing on this host, with the
    /// failure: what the queues page shows.
    var scriptFailures: [String: ScriptFailures.Snapshot] {
        Dictionary(workers.compactMap { worker in worker.scriptFailure.map { (worker.settings.name, $0) } }) { first, _ in first }
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
