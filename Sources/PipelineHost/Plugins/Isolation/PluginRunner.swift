import Foundation
import Logging
import PipelinePayloads
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The host's side of a plugin that runs out of process
/// (`isolation: process`): one runner process at a time, started with the
/// same `pipeline-host` binary, loaded with the same loader and checks, and
/// started again with backoff whenever it dies.
///
/// Calls are multiplexed on the runner's socket by call id. A call blocks
/// the host thread that makes it (one of its job type's threads), which also
/// answers the host services the plugin calls meanwhile, so a transition
/// check's query runs on the job's own thread, as in process.
final class PluginRunner: Sendable {
    struct Settings: Sendable {
        /// The plugin file.
        var path: String
        /// Its entry name in pipeline.yaml.
        var name: String
        var configJSON: String
        /// The most resident memory before the host ends it; nil: no limit.
        var memoryLimit: Int64?
        /// A runner for suspect jobs, one at a time.
        var quarantine = false
    }

    /// What the admin page and `validate --probe` show.
    struct Snapshot: Sendable {
        var pid: Int32?
        var startedAt: Date?
        var restarts: Int
        var lastDeath: (death: RunnerDeath, at: Date, jobs: [String])?
        var inFlight: Int
        var memoryLimitMechanism: String?
    }

    /// What a call in the runner came to.
    enum CallResult: Sendable {
        case returned(code: Int32, report: PluginCall.Report)
        /// The runner died while it ran, with `inFlight` calls in it.
        case died(RunnerDeath, inFlight: Int)
        /// It never reached a runner (none running, or it was cancelled waiting).
        case notRun(String)
    }

    private enum Phase: Sendable {
        case running(RunnerProcess)
        case restarting
        case stopped
    }

    private struct State: Sendable {
        var phase: Phase = .restarting
        var restarts = 0
        var lastDeath: (death: RunnerDeath, at: Date, jobs: [String])?
        /// Deaths in a row without a long healthy run, for the backoff.
        var failures = 0
    }

    let settings: Settings
    let info: PluginDescriptorInfo
    private let logger: Logger
    private let state = Mutex(State())
    private let nextCall = Atomic<UInt64>(1)
    /// Called with the cause's label at each death: the restarts metric.
    let onDeath: @Sendable (_ label: String) -> Void

    /// The backoff before a restart: 100 ms, doubling, at most 30 s; a runner
    /// that lived a minute starts the count again.
    static func backoff(afterFailures failures: Int) -> Duration {
        .milliseconds(min(30_000, Int64(100) << Int64(min(max(failures - 1, 0), 9))))
    }

    /// Starts the runner and the plugin's `init` in it.
    ///
    /// - Throws: ``PluginLoadError``: the loader's refusal, or `init`'s
    ///   failure, as in process.
    init(settings: Settings, logger: Logger, onDeath: @escaping @Sendable (String) -> Void = { _ in }) throws(PluginLoadError) {
        self.settings = settings
        self.onDeath = onDeath
        var logger = logger
        logger[metadataKey: "plugin"] = "\(settings.name)"
        self.logger = logger
        let (process, info) = try Self.launch(settings, logger: logger)
        self.info = info
        state.withLock { $0.phase = .running(process) }
        supervise(process)
    }

    /// The executable runners are: this `pipeline-host`, or when the host
    /// runs inside another program (the tests, the benchmark), the one
    /// built beside it.
    static var executable: String {
        let own = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        if (own as NSString).lastPathComponent == "pipeline-host" { return own }
        return ProductsDirectory.path + "/pipeline-host"
    }

    /// Spawns a runner for `settings.path` and reads its descriptor, without
    /// starting the plugin: what `validate` and `plugin inspect` do for an
    /// isolated plugin, so that no plugin code runs in the host.
    static func inspect(path: String) throws(PluginLoadError) -> PluginDescriptorInfo {
        let process = try spawn(path: path, name: "inspect", quarantine: false)
        defer {
            try? process.send(.shutdown)
            process.kill(.exit(0))
        }
        process.watch()
        return try readDescriptor(process, path: path)
    }

    private static func spawn(path: String, name: String, quarantine: Bool) throws(PluginLoadError) -> RunnerProcess {
        var pair: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            throw PluginLoadError(
                .notLoadable, path: path, problem: "no socket for its runner: \(String(cString: strerror(errno)))",
                fix: "raise the host's open-file limit")
        }
        var environment = ProcessInfo.processInfo.environment
        // A crash's backtrace takes 10-20 ms the host waits for; keep it unless asked for.
        if environment["SWIFT_BACKTRACE"] == nil { environment["SWIFT_BACKTRACE"] = "enable=no" }
        let arguments = [
            "plugin-runner", "--plugin", path, "--name", name, "--host-pid", String(getpid()),
        ] + (quarantine ? ["--quarantine"] : [])
        let pid: pid_t
        do {
            pid = try RunnerSpawner.shared.spawn(executable: executable, arguments: arguments, environment: environment, socket: pair[1])
        } catch {
            close(pair[0])
            close(pair[1])
            throw PluginLoadError(
                .notLoadable, path: path, problem: "its runner could not be started: \(error)",
                fix: "check that \(executable) exists and can run, or set isolation: none for this plugin")
        }
        close(pair[1])
        return RunnerProcess(pid: pid, channel: RunnerChannel(fd: pair[0]))
    }

    private static func readDescriptor(_ process: RunnerProcess, path: String) throws(PluginLoadError) -> PluginDescriptorInfo {
        switch process.control.take() {
        case .loaded(let info): return info
        case .refused(let code, let problem, let fix):
            throw PluginLoadError(PluginLoadError.Code(named: code) ?? .notLoadable, path: path, problem: problem, fix: fix)
        case .died(let death, _):
            throw PluginLoadError(
                .notLoadable, path: path, problem: "its runner died while loading it (\(death))",
                fix: "the plugin crashes when it is loaded; run `pipeline-host plugin inspect \(path)` to see why")
        default:
            throw PluginLoadError(.notLoadable, path: path, problem: "its runner answered out of turn", fix: "report this as a host bug")
        }
    }

    private static func launch(_ settings: Settings, logger: Logger) throws(PluginLoadError) -> (RunnerProcess, PluginDescriptorInfo) {
        let process = try spawn(path: settings.path, name: settings.name, quarantine: settings.quarantine)
        process.watch()
        do throws(PluginLoadError) {
            let info = try readDescriptor(process, path: settings.path)
            try? process.send(.start(name: settings.name, configJSON: settings.configJSON))
            switch process.control.take() {
            case .started: return (process, info)
            case .startFailed(let reason):
                throw PluginLoadError(
                    .initFailed, path: settings.path, problem: "init failed: \(reason)",
                    fix: "fix plugins.\(settings.name).config in pipeline.yaml")
            case .died(let death, _):
                throw PluginLoadError(
                    .initFailed, path: settings.path, problem: "its runner died in init (\(death))",
                    fix: "the plugin crashes when it starts with this config; check plugins.\(settings.name).config")
            default:
                throw PluginLoadError(.initFailed, path: settings.path, problem: "its runner answered out of turn", fix: "report this as a host bug")
            }
        } catch {
            process.kill(.exit(0))
            throw error
        }
    }

    /// Watches `process`: its death ends its calls, is logged once with the
    /// jobs it took down, and starts the next runner after the backoff.
    private func supervise(_ process: RunnerProcess) {
        process.watchDeath { [self] death, jobs in died(process, death, jobs: jobs) }
        if let limit = settings.memoryLimit { MemoryWatchdog.watch(process, limit: limit) }
    }

    private func died(_ process: RunnerProcess, _ death: RunnerDeath, jobs: [String]) {
        let restart = state.withLock { state -> Duration? in
            guard case .running(let current) = state.phase, current === process else { return nil }
            state.restarts += 1
            state.lastDeath = (death, Date(), jobs)
            // A runner the host ended (a hang, its memory) is started again at
            // once: those deaths come no faster than jobs time out. A crash
            // backs off, the more the sooner it comes again.
            switch death.cause {
            case .hung, .memory: state.failures = 1
            default: state.failures = ContinuousClock.now - process.startedAt > .seconds(60) ? 1 : state.failures + 1
            }
            state.phase = .restarting
            return Self.backoff(afterFailures: state.failures)
        }
        guard let restart else { return }
        onDeath(death.label)
        logger.error(
            "plugin runner died; its calls are retried and it is started again",
            metadata: [
                "plugin_id": "\(info.id)", "pid": "\(death.pid)", "cause": "\(death)", "jobs": "\(jobs.joined(separator: ","))",
                "restart_in": "\(restart)",
            ])
        let thread = Thread { [self] in
            var wait = restart
            while true {
                Thread.sleep(forTimeInterval: Double(wait.milliseconds) / 1000)
                if case .stopped = state.withLock({ $0.phase }) { return }
                do {
                    let (process, _) = try Self.launch(settings, logger: logger)
                    let kept = state.withLock { state -> Bool in
                        if case .stopped = state.phase { return false }
                        state.phase = .running(process)
                        return true
                    }
                    guard kept else {
                        process.kill(.exit(0))
                        return
                    }
                    supervise(process)
                    logger.notice("plugin runner started again", metadata: ["pid": "\(process.pid)"])
                    return
                } catch {
                    wait = state.withLock { state in
                        state.failures += 1
                        return Self.backoff(afterFailures: state.failures)
                    }
                    logger.error("plugin runner could not be started again", metadata: ["error": "\(error)", "retry_in": "\(wait)"])
                }
            }
        }
        thread.name = "pipeline-host runner restart"
        thread.start()
    }


    /// The running process, waiting (without a thread) while one is being
    /// started; nil when the plugin is stopped or `cancelled` says to give up.
    private func runningProcess(cancelled: () -> Bool) async -> RunnerProcess? {
        while true {
            switch state.withLock({ $0.phase }) {
            case .running(let process): return process
            case .stopped: return nil
            case .restarting:
                if cancelled() { return nil }
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    /// Runs `job` in the runner and waits, without holding a thread, until it
    /// returns or the runner dies. A host service the plugin asks for meanwhile
    /// is answered on one of `threads` (the job type's own), where it may block.
    func execute(_ job: PluginJob, call: PluginCall, effects: PluginEffectPolicy, threads: BlockingExecutor) async -> CallResult {
        guard let process = await runningProcess(cancelled: { call.isCancelled }) else {
            return .notRun("the plugin's runner is being started again after \(lastDeathText)")
        }
        let id = nextCall.add(1, ordering: .relaxed).oldValue
        let sink = AsyncCallSink { request, service in
            threads.submit {
                let (ok, text) = Self.answer(service, effects: effects)
                try? process.send(.serviceReply(call: id, request: request, ok: ok, text: text))
            }
        }
        guard process.register(id, jobID: job.id, sink: sink) else { return .notRun("the plugin's runner has just ended") }
        defer { process.unregister(id) }
        call.onCancel { try? process.send(.cancel(call: id)) }
        var policy = RunnerProtocol.RemotePolicy(
            enqueueJobTypes: nil, offersRequestTransitions: effects.offersRequestTransitions,
            checksTransitions: effects.checkTransition != nil, findsRequests: effects.findRequests != nil,
            downloadProtocols: effects.downloadProtocols)
        switch effects.enqueue {
        case .unsupported: policy.enqueueJobTypes = nil
        case .anyJobType: policy.enqueueJobTypes = ["*"]
        case .jobTypes(let types): policy.enqueueJobTypes = types.sorted()
        }
        try? process.send(.execute(call: id, job: job, policy: policy))
        switch await sink.wait() {
        case .finished(let code, let report): return .returned(code: code, report: report)
        case .died(let death, let inFlight): return .died(death, inFlight: inFlight)
        default: return .notRun("its runner answered out of turn")
        }
    }

    /// Runs the plugin's `check` in the runner (blocking this thread).
    func check(call: PluginCall) -> (status: Int32, message: String?)? {
        guard case .running(let process) = state.withLock({ $0.phase }) else { return nil }
        let id = nextCall.add(1, ordering: .relaxed).oldValue
        let mailbox = RunnerMailbox()
        guard process.register(id, jobID: nil, sink: mailbox) else { return nil }
        defer { process.unregister(id) }
        try? process.send(.check(call: id))
        while true {
            switch mailbox.take() {
            case .checked(let status, let message): return (status, message)
            case .died: return nil
            default: continue
            }
        }
    }

    /// Answers a host service for a call, on the call's host thread.
    static func answer(_ service: RunnerProtocol.RemoteService, effects: PluginEffectPolicy) -> (Bool, String?) {
        switch service {
        case .checkTransition(let requestID, let path):
            let statuses = path.compactMap(RequestStatus.init(rawValue:))
            guard statuses.count == path.count else { return (false, "an unknown status") }
            if let refusal = effects.checkTransition?(requestID, statuses) { return (false, refusal) }
            return (true, nil)
        case .findRequests(let queryJSON):
            guard let find = effects.findRequests else { return (false, "unsupported:") }
            guard let query = try? JSONDecoder().decode(RequestQuery.self, from: Data(queryJSON.utf8)) else {
                return (false, "invalid:the query is not an object with \"status\", \"order\" and \"limit\"")
            }
            switch find(query) {
            case .success(let snapshots):
                return (true, String(decoding: (try? JSONEncoder().encode(snapshots)) ?? Data("[]".utf8), as: UTF8.self))
            case .failure(.invalidQuery(let why)): return (false, "invalid:" + why)
            case .failure(let error): return (false, "failed:" + error.description)
            }
        }
    }

    /// Ends the runner now (SIGKILL), because `jobID` ran past its timeout
    /// and the grace; it is started again and its other calls are retried.
    func endForHang(jobID: String) {
        if case .running(let process) = state.withLock({ $0.phase }) { process.kill(.hung(jobID: jobID)) }
    }

    /// Asks the runner to finish and exit, waits up to `grace`, then ends it.
    func stop(grace: Duration) async {
        let process = state.withLock { state -> RunnerProcess? in
            defer { state.phase = .stopped }
            if case .running(let process) = state.phase { return process }
            return nil
        }
        guard let process else { return }
        try? process.send(.shutdown)
        let deadline = ContinuousClock.now + grace
        while !process.hasEnded, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        if !process.hasEnded { process.kill(.exit(0)) }
    }

    var snapshot: Snapshot {
        state.withLock { state in
            var snapshot = Snapshot(restarts: state.restarts, lastDeath: state.lastDeath, inFlight: 0)
            if case .running(let process) = state.phase {
                snapshot.pid = process.pid
                snapshot.startedAt = process.started
                snapshot.inFlight = process.inFlight
            }
            snapshot.memoryLimitMechanism = settings.memoryLimit == nil ? nil : MemoryWatchdog.mechanism
            return snapshot
        }
    }

    private var lastDeathText: String {
        state.withLock { $0.lastDeath.map { "\($0.death)" } ?? "a failure" }
    }
}
