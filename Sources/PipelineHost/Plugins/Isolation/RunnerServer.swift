import CHostSupport
import Foundation
import Logging
import PluginABI
import PipelinePayloads
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The runner process: `pipeline-host plugin-runner`, started by the host
/// for one plugin with isolation `process`. It loads the plugin with the
/// same loader and checks, runs its calls on threads of its own, answers the
/// host services it can (results, logs, progress, checks of arguments) as
/// in process, and asks the host for the rest (transition checks,
/// `find_requests`) over its socket (fd 3). It dies with the host: by
/// `PR_SET_PDEATHSIG`, and when its socket closes.
public enum PluginRunnerMain {
    /// Serves the host until it says to stop or goes away; returns the exit status.
    public static func run(plugin path: String, name: String, hostPID: Int32, logger: Logger) -> Int32 {
        _ = pipeline_set_parent_death_signal(SIGKILL)
        // The host may have died between the spawn and the line above.
        guard getppid() == hostPID else { return 1 }
        // The plugin's own children must not keep the host's socket open.
        _ = fcntl(3, F_SETFD, FD_CLOEXEC)
        let channel = RunnerChannel(fd: 3)
        let plugin: LoadedPlugin
        do {
            plugin = try PluginLoader.load(path: path)
        } catch {
            try? channel.send(RunnerProtocol.encode(.refused(code: error.code.description, problem: error.problem, fix: error.fix)))
            return 0
        }
        do {
            try channel.send(RunnerProtocol.encode(.loaded(plugin.info)))
        } catch {
            return 0
        }
        RunnerServer(channel: channel, plugin: plugin, logger: logger).serve()
    }
}

/// The runner's loop: commands from the host, calls on a pool of threads.
final class RunnerServer: @unchecked Sendable {
    let channel: RunnerChannel
    let plugin: LoadedPlugin
    let logger: Logger
    /// Serial plugins (PP_FLAG_SERIAL_EXECUTE) run one execute at a time.
    private let serial = NSLock()
    private let instance = Mutex<PluginInstance?>(nil)
    /// The calls running now: their host-side id, the call (for a cancel),
    /// and the queue a service's answer arrives on.
    private let calls = Mutex<[UInt64: (call: PluginCall, replies: BlockingQueue<(UInt64, Bool, String?)>)]>([:])

    init(channel: RunnerChannel, plugin: LoadedPlugin, logger: Logger) {
        self.channel = channel
        self.plugin = plugin
        self.logger = logger
    }

    /// One thread reads the socket at a time; it then runs what it read
    /// itself while the next waiting thread takes over the reading (leader
    /// and followers), so a call starts on the thread that read it, with no
    /// hand-off. There is always a thread reading: when none waits, the one
    /// that read starts another before it runs its call.
    private let readLock = NSLock()
    private let waitingReaders = Atomic<Int>(0)

    /// Serves the host until it goes away or says to stop; never returns.
    func serve() -> Never {
        readLoop()
    }

    private func readLoop() -> Never {
        while true {
            waitingReaders.add(1, ordering: .relaxed)
            readLock.lock()
            waitingReaders.subtract(1, ordering: .relaxed)
            let frame: [UInt8]?
            do {
                frame = try channel.receive()
            } catch {
                logger.error("the host's message could not be read; stopping", metadata: ["error": "\(error)"])
                exit(2)
            }
            // The host is gone: stop at once, whatever runs.
            guard let frame else { exit(0) }
            if waitingReaders.load(ordering: .relaxed) == 0 {
                let reader = Thread { [self] in readLoop() }
                reader.stackSize = 8 << 20
                reader.start()
            }
            readLock.unlock()
            let command: RunnerProtocol.Command
            do {
                command = try RunnerProtocol.decodeCommand(frame)
            } catch {
                logger.error("the host sent a malformed message; stopping", metadata: ["error": "\(error)"])
                exit(2)
            }
            handle(command)
        }
    }

    private func handle(_ command: RunnerProtocol.Command) {
        switch command {
        case .start(let name, let config):
            do {
                let started = try plugin.start(name: name, configJSON: config, logger: logger)
                instance.withLock { $0 = started }
                send(.started)
            } catch {
                send(.startFailed(error.problem.hasPrefix("init failed: ") ? String(error.problem.dropFirst(13)) : error.problem))
            }
        case .execute(let id, let job, let policy):
            execute(id, job, policy)
        case .check(let id):
            check(id)
        case .cancel(let id):
            calls.withLock { $0[id]?.call }?.cancel()
        case .serviceReply(let id, let request, let ok, let text):
            calls.withLock { $0[id]?.replies }?.put((request, ok, text))
        case .shutdown:
            while calls.withLock({ !$0.isEmpty }) { Thread.sleep(forTimeInterval: 0.01) }
            instance.withLock { $0 }?.shutdownIfIdle()
            exit(0)
        }
    }

    private func send(_ report: RunnerProtocol.Report) {
        do {
            try channel.send(RunnerProtocol.encode(report))
        } catch {
            exit(0)  // the host is gone
        }
    }

    private func execute(_ id: UInt64, _ job: PluginJob, _ policy: RunnerProtocol.RemotePolicy) {
        guard let instance = instance.withLock({ $0 }) else {
            var report = PluginCall.Report()
            report.errorMessage = "the plugin was not started in its runner"
            send(.finished(call: id, code: Int32(PP_OUTCOME_RETRY), report: report))
            return
        }
        let replies = BlockingQueue<(UInt64, Bool, String?)>()
        let requests = Atomic<UInt64>(1)
        /// Asks the host, from this call's thread, and waits for its answer.
        let ask: @Sendable (RunnerProtocol.RemoteService) -> (Bool, String?) = { [self] service in
            let request = requests.add(1, ordering: .relaxed).oldValue
            send(.service(call: id, request: request, service: service))
            while true {
                let (answered, ok, text) = replies.take()
                if answered == request { return (ok, text) }
            }
        }
        let enqueue: PluginEffectPolicy.Enqueue =
            switch policy.enqueueJobTypes {
            case nil: .unsupported
            case let types? where types == ["*"]: .anyJobType
            case let types?: .jobTypes(Set(types))
            }
        let checkTransition: @Sendable (String, [RequestStatus]) -> String? = { requestID, path in
            let (ok, reason) = ask(.checkTransition(requestID: requestID, path: path.map(\.rawValue)))
            return ok ? nil : (reason ?? "refused")
        }
        let findRequests: @Sendable (RequestQuery) -> Result<[RequestSnapshot], RequestLedgerError> = { query in
            let json = String(decoding: (try? JSONEncoder().encode(query)) ?? Data("{}".utf8), as: UTF8.self)
            let (ok, text) = ask(.findRequests(queryJSON: json))
            if ok, let text, let snapshots = try? JSONDecoder().decode([RequestSnapshot].self, from: Data(text.utf8)) {
                return .success(snapshots)
            }
            let message = text ?? "no answer"
            if message.hasPrefix("invalid:") { return .failure(.invalidQuery(String(message.dropFirst(8)))) }
            return .failure(.database(String(message.drop { $0 != ":" }.dropFirst())))
        }
        var effects = PluginEffectPolicy(
            enqueue: enqueue, offersRequestTransitions: policy.offersRequestTransitions,
            checkTransition: policy.checksTransitions ? checkTransition : nil, findRequests: policy.findsRequests ? findRequests : nil)
        effects.downloadProtocols = policy.downloadProtocols
        let call = PluginCall(purpose: .execute, job: job, effectPolicy: effects)
        calls.withLock { $0[id] = (call, replies) }
        let serialExecution = plugin.info.serialExecution
        if serialExecution { serial.lock() }
        let code = instance.executeSynchronously(job, call: call)
        if serialExecution { serial.unlock() }
        calls.withLock { $0[id] = nil }
        send(.finished(call: id, code: code, report: call.report))
    }

    private func check(_ id: UInt64) {
        guard let instance = instance.withLock({ $0 }) else {
            send(.checked(call: id, status: -1, message: "the plugin was not started in its runner"))
            return
        }
        let call = PluginCall(purpose: .check, job: nil, effectPolicy: .none)
        let status = instance.checkSynchronously(call: call)
        send(.checked(call: id, status: status ?? 0, message: call.report.errorMessage))
    }
}
