import Foundation
import Logging
import PluginABI
import Synchronization

/// A plugin file that passed the loader's checks. It stays mapped for the
/// life of the process (in process), or is checked by a runner (isolated);
/// ``start(name:configJSON:configSource:logger:)`` creates instances.
public final class LoadedPlugin: @unchecked Sendable {
    /// The file it was loaded from.
    public let path: String
    /// What its descriptor says.
    public let info: PluginDescriptorInfo
    /// The host's zero-extended copy of the descriptor (immutable); all zero
    /// for an isolated plugin, whose code never runs in the host.
    let descriptor: pp_plugin_descriptor
    /// Copies of its interface tables (since ABI 1.3); none for an isolated plugin.
    let drivers: DriverTables
    /// Which build of the file this is (a reload starts a new build anew).
    let build: PluginImages.FileIdentity?
    /// The file the image was mapped from: ``path``, or the copy a later build was given.
    public let imagePath: String
    /// Where its code runs.
    public let isolation: PluginIsolation

    init(
        path: String, info: PluginDescriptorInfo, descriptor: pp_plugin_descriptor, drivers: DriverTables = DriverTables(),
        build: PluginImages.FileIdentity? = nil, imagePath: String? = nil, isolation: PluginIsolation = .inProcess
    ) {
        self.path = path
        self.info = info
        self.descriptor = descriptor
        self.drivers = drivers
        self.build = build
        self.imagePath = imagePath ?? path
        self.isolation = isolation
    }

    /// Runs the plugin's `init` with its configuration and returns the
    /// running instance: in the host (`isolation: none`), or in a runner
    /// process started for it. Call it off Swift's cooperative pool: `init`
    /// may block.
    ///
    /// - Parameters:
    ///   - name: the plugin's entry name in pipeline.yaml, for logs and messages.
    ///   - configJSON: its `config` object as JSON.
    ///   - configSource: where that config comes from, for the error message
    ///     (default: `plugins.<name>.config in pipeline.yaml`).
    ///   - onRunnerDeath: for an isolated plugin, called with the cause's
    ///     label each time its runner dies (the restarts metric).
    /// - Throws: ``PluginLoadError`` with code `initFailed` and the plugin's reason.
    public func start(
        name: String, configJSON: String, configSource: String? = nil, logger: Logger,
        onRunnerDeath: @escaping @Sendable (String) -> Void = { _ in }
    ) throws(PluginLoadError) -> PluginInstance {
        if case .process(let limits) = isolation.mode {
            let runner = try PluginRunner(
                settings: PluginRunner.Settings(path: path, name: name, configJSON: configJSON, memoryLimit: limits.maxMemory),
                logger: logger, onDeath: onRunnerDeath)
            return PluginInstance(name: name, plugin: self, configJSON: configJSON, runner: runner, logger: logger)
        }
        let context = PluginHostContext(name: name, pluginID: info.id, logger: logger)
        let api = HostServicesTable.make(for: context)
        let call = PluginCall(purpose: .initialize, job: nil, effectPolicy: .none)
        call.hostContext = context
        let handle = PluginCallRegistry.register(call)
        defer { PluginCallRegistry.unregister(handle) }
        var state: UnsafeMutableRawPointer?
        let status = configJSON.withCString { config in descriptor.`init`!(api, config, handle, &state) }
        let fix = "fix \(configSource ?? "plugins.\(name).config in pipeline.yaml")"
        guard status == PP_OK else {
            let reason =
                call.report.errorMessage
                ?? "init returned \(status) without saying why (the plugin did not call set_error)"
            throw PluginLoadError(.initFailed, path: path, problem: "init failed: \(reason)", fix: fix)
        }
        var driverJobs: DriverJobRunner?
        if info.interfaces.offersAny {
            do {
                driverJobs = try DriverJobRunner(plugin: self, state: state, api: api, hostContext: context, configJSON: configJSON)
            } catch {
                descriptor.shutdown!(state)
                throw PluginLoadError(.initFailed, path: path, problem: "the host's jobs over it cannot start: \(error.message)", fix: fix)
            }
        }
        return PluginInstance(
            name: name, plugin: self, configJSON: configJSON, state: state, api: api, hostContext: context, driverJobs: driverJobs)
    }
}

/// A started plugin: its state, and the calls into it.
///
/// In process, the instance counts the calls running in the plugin, so that
/// `shutdown` never frees the plugin's state under a call that is still
/// running (one the host abandoned after its timeout, say); such a state is
/// left alone. Isolated, the calls go to its runner; a call that outlives its
/// timeout and the grace ends the runner instead of being abandoned.
public final class PluginInstance: @unchecked Sendable {
    /// The plugin's entry name in pipeline.yaml.
    public let name: String
    public let plugin: LoadedPlugin
    /// The config it was started with (a reload keeps an instance whose config is unchanged).
    public let configJSON: String
    private let state: UnsafeMutableRawPointer?
    private let api: UnsafeMutablePointer<pp_host_api>?
    /// Lets one execute through at a time, for plugins that set PP_FLAG_SERIAL_EXECUTE.
    private let serialGate: AsyncGate?
    private let lifecycle = Mutex<(running: Int, isShutDown: Bool, stateFreed: Bool)>((0, false, false))
    /// The runner, for an isolated plugin.
    let runner: PluginRunner?
    /// A second runner for suspect jobs (in flight when a runner died beside
    /// others), which runs them one at a time; made when first needed.
    private let quarantine = Mutex<PluginRunner?>(nil)
    private let quarantineGate = AsyncGate()
    private let logger: Logger?
    /// The instance's side of the host services (in process).
    private let hostContext: PluginHostContext?
    /// The host's jobs over the plugin's interfaces (in process).
    private let driverJobs: DriverJobRunner?

    init(
        name: String, plugin: LoadedPlugin, configJSON: String, state: UnsafeMutableRawPointer?, api: UnsafeMutablePointer<pp_host_api>,
        hostContext: PluginHostContext, driverJobs: DriverJobRunner?
    ) {
        self.name = name
        self.plugin = plugin
        self.configJSON = configJSON
        self.state = state
        self.api = api
        self.hostContext = hostContext
        self.driverJobs = driverJobs
        serialGate = plugin.info.serialExecution ? AsyncGate() : nil
        runner = nil
        logger = nil
    }

    init(name: String, plugin: LoadedPlugin, configJSON: String, runner: PluginRunner, logger: Logger) {
        self.name = name
        self.plugin = plugin
        self.configJSON = configJSON
        state = nil
        api = nil
        serialGate = nil
        self.runner = runner
        self.logger = logger
        hostContext = nil
        driverJobs = nil
    }

    /// The instance's interface tables with what a driver call needs, for
    /// the conformance suite (in process only; nil for an isolated instance).
    func driverBinding() -> (tables: DriverTables, binding: (String) -> DriverBinding)? {
        guard runner == nil, plugin.info.interfaces.offersAny else { return nil }
        let state = state
        let hostContext = hostContext
        return (plugin.drivers, { DriverBinding(state: state, parent: nil, hostContext: hostContext, displayName: $0) })
    }

    /// Counts a call in, unless the instance is shut down.
    private func enterCall() -> Bool {
        lifecycle.withLock { state in
            guard !state.isShutDown else { return false }
            state.running += 1
            return true
        }
    }

    private func leaveCall() {
        lifecycle.withLock { $0.running -= 1 }
    }

    /// The calls running in the plugin now, abandoned ones included.
    public var runningCalls: Int { lifecycle.withLock { $0.running } }

    /// Runs the plugin's `execute` for `job` on the calling thread, with
    /// `call` behind its `pp_call` handle: the in-process core that both the
    /// host (through ``execute(_:on:timeout:cancelGrace:effects:suspect:call:)``)
    /// and a runner use.
    func executeSynchronously(_ job: PluginJob, call: PluginCall) -> pp_outcome {
        call.hostContext = hostContext
        let handle = PluginCallRegistry.register(call)
        defer { PluginCallRegistry.unregister(handle) }
        if let driverJobs, driverJobs.jobTypes.contains(job.type) {
            return driverJobs.execute(job, call: call, handle: handle)
        }
        guard let execute = plugin.descriptor.execute else {
            call.update { $0.errorMessage = "\(plugin.info.name) is a driver without job types: it runs no '\(job.type)' itself" }
            return PP_OUTCOME_FAIL
        }
        return job.id.withCString { id in
            job.type.withCString { type in
                job.payloadJSON.withCString { payload in
                    var input = pp_job(
                        struct_size: UInt32(MemoryLayout<pp_job>.size), attempt: UInt32(clamping: job.attempt),
                        max_attempts: UInt32(clamping: job.maxAttempts), reserved0: 0, id: id, type: type,
                        payload_json: payload, created_at_ms: job.createdAtMilliseconds)
                    return execute(state, &input, handle)
                }
            }
        }
    }

    /// Runs the plugin's `check` on the calling thread; nil when it has none.
    func checkSynchronously(call: PluginCall) -> pp_status? {
        call.hostContext = hostContext
        if plugin.descriptor.check == nil, let driverJobs { return driverJobs.check(call: call) }
        guard let check = plugin.descriptor.check else { return nil }
        let handle = PluginCallRegistry.register(call)
        defer { PluginCallRegistry.unregister(handle) }
        return check(state, handle)
    }

    /// Runs one job on `executor`'s threads (in process), or in the plugin's
    /// runner from one of them (isolated).
    ///
    /// - Parameters:
    ///   - timeout: when the job has run this long, the plugin is asked to stop
    ///     (`is_cancelled` turns 1); if it has not returned `cancelGrace`
    ///     later, the host stops waiting and the attempt fails as retryable
    ///     (isolated: the host ends the runner). Waiting for a thread, or for
    ///     a serial plugin's previous job, does not count.
    ///   - effects: which follow-up effects the call may ask for.
    ///   - suspect: the job was in flight when a runner died beside other
    ///     jobs: run it alone, in the quarantine runner (isolated only).
    ///   - call: receives the call as soon as it exists, so that the caller
    ///     can cancel it (a lost lock, a shutdown).
    public func execute(
        _ job: PluginJob, on executor: BlockingExecutor, timeout: Duration, cancelGrace: Duration = .seconds(5),
        effects: PluginEffectPolicy, suspect: Bool = false, call callHandler: (@Sendable (PluginCall) -> Void)? = nil
    ) async -> PluginCallOutcome {
        let call = PluginCall(purpose: .execute, job: job, effectPolicy: effects)
        callHandler?(call)
        guard enterCall() else {
            call.markReturned()
            return PluginCallOutcome(
                result: .rejected, report: call.report, timeout: timeout, cancelGrace: cancelGrace, duration: .zero)
        }
        if let runner {
            return await executeRemotely(job, call: call, runner: runner, on: executor, timeout: timeout, cancelGrace: cancelGrace, suspect: suspect)
        }
        await serialGate?.enter()
        let started = ContinuousClock.now
        let result = await executor.run(deadline: timeout, grace: cancelGrace, onDeadline: { call.cancel() }) {
            [self] () -> pp_outcome in
            defer {
                self.leaveCall()
                call.markReturned()
            }
            return self.executeSynchronously(job, call: call)
        }
        if case .rejected = result {
            leaveCall()
            call.markReturned()
        }
        serialGate?.leave()
        var outcome = PluginCallOutcome(
            result: result, report: call.report, timeout: timeout, cancelGrace: cancelGrace,
            duration: ContinuousClock.now - started)
        if case .abandoned = result { outcome.abandonedCall = call }
        return outcome
    }

    private func executeRemotely(
        _ job: PluginJob, call: PluginCall, runner main: PluginRunner, on executor: BlockingExecutor, timeout: Duration,
        cancelGrace: Duration, suspect: Bool
    ) async -> PluginCallOutcome {
        var runner = main
        if suspect {
            let made = await onOwnThread { [self] in Result { () throws(PluginLoadError) in try quarantineRunner(like: main) } }
            do {
                runner = try made.get()
            } catch {
                leaveCall()
                call.markReturned()
                var outcome = PluginCallOutcome(
                    result: .rejected, report: call.report, timeout: timeout, cancelGrace: cancelGrace, duration: .zero)
                outcome.message = "not run: the quarantine runner for suspect jobs could not start: \(error)"
                return outcome
            }
            await quarantineGate.enter()
        }
        defer { if suspect { quarantineGate.leave() } }
        let started = ContinuousClock.now
        let chosen = runner
        // The timeout, without a thread: at the deadline the call is asked to
        // stop; a grace later the runner is ended, which ends the call.
        let deadlinePassed = Atomic<Bool>(false)
        let timer = Task {
            try await Task.sleep(for: timeout)
            deadlinePassed.store(true, ordering: .sequentiallyConsistent)
            call.cancel()
            try await Task.sleep(for: cancelGrace)
            chosen.endForHang(jobID: job.id)
        }
        let result = await chosen.execute(job, call: call, effects: call.effectPolicy, threads: executor)
        timer.cancel()
        leaveCall()
        call.markReturned()
        let duration = ContinuousClock.now - started
        var outcome: PluginCallOutcome
        switch result {
        case .returned(let code, let report):
            outcome = PluginCallOutcome(
                result: .completed(code, afterDeadline: deadlinePassed.load(ordering: .sequentiallyConsistent)), report: report,
                timeout: timeout, cancelGrace: cancelGrace, duration: duration)
        case .died(let death, _)
        where death.cause == .hung(jobID: job.id) || (death.isEndedForHang && deadlinePassed.load(ordering: .sequentiallyConsistent)):
            // This call ignored its cancel: the host ended its runner for it,
            // or for another call that hung beside it while this one was
            // past its own timeout too (whichever timer came first).
            outcome = PluginCallOutcome(result: .abandoned, report: call.report, timeout: timeout, cancelGrace: cancelGrace, duration: duration)
            outcome.message =
                death.cause == .hung(jobID: job.id)
                ? "timed out after \(DurationSyntax.format(timeout)); the plugin did not stop within "
                    + "\(DurationSyntax.format(cancelGrace)) of being cancelled, so the host ended its runner"
                : "timed out after \(DurationSyntax.format(timeout)); the host ended its runner, where another job "
                    + "did not stop within \(DurationSyntax.format(cancelGrace)) of being cancelled either"
        case .died(let death, let inFlight):
            outcome = PluginCallOutcome(
                crash: PluginCrash(death: death, alone: inFlight <= 1 || suspect), pluginID: plugin.info.id, report: call.report,
                duration: duration)
            // Ended for another job's hang: this job is known innocent, retried as it is.
            if case .hung = death.cause { outcome.crash = nil }
        case .notRun(let reason):
            outcome = PluginCallOutcome(result: .rejected, report: call.report, timeout: timeout, cancelGrace: cancelGrace, duration: duration)
            outcome.message = "not run: \(reason)"
        }
        return outcome
    }

    private func quarantineRunner(like main: PluginRunner) throws(PluginLoadError) -> PluginRunner {
        if let existing = quarantine.withLock({ $0 }) { return existing }
        var settings = main.settings
        settings.quarantine = true
        let made = try PluginRunner(settings: settings, logger: logger ?? Logger(label: "pipeline-host"), onDeath: main.onDeath)
        let kept = quarantine.withLock { slot -> PluginRunner? in
            if let slot { return slot }
            slot = made
            return nil
        }
        if let kept {
            Task { await made.stop(grace: .zero) }
            return kept
        }
        return made
    }

    /// Where the plugin runs now, for the admin page and `validate --probe`.
    public var isolationStatus: PluginIsolationStatus {
        guard let runner else { return PluginIsolationStatus(mode: "none") }
        let snapshot = runner.snapshot
        return PluginIsolationStatus(
            mode: "process", pid: snapshot.pid, startedAt: snapshot.startedAt, restarts: snapshot.restarts,
            lastCrash: snapshot.lastDeath.map { "\($0.death) at \(ISO8601DateFormatter().string(from: $0.at))" },
            lastCrashJobs: snapshot.lastDeath?.jobs ?? [], inFlight: snapshot.inFlight,
            memoryLimit: plugin.isolation.maxMemory, memoryMechanism: snapshot.memoryLimitMechanism)
    }

    /// Runs the plugin's optional `check`: is its service reachable and its
    /// configuration right? `nil` when the plugin has no check.
    public func check(on executor: BlockingExecutor, timeout: Duration = .seconds(30)) async -> PluginCheckResult? {
        guard plugin.info.hasCheck else { return nil }
        guard enterCall() else { return .failed("the plugin is shut down") }
        let call = PluginCall(purpose: .check, job: nil, effectPolicy: .none)
        let runner = runner
        let result = await executor.run(deadline: timeout, grace: .seconds(5), onDeadline: { call.cancel() }) {
            [self] () -> (pp_status, String?) in
            defer { self.leaveCall() }
            if let runner {
                guard let answer = runner.check(call: call) else { return (PP_ERR_FAILED, "the plugin's runner ended during the check") }
                return (answer.status, answer.message)
            }
            return (checkSynchronously(call: call) ?? PP_OK, call.report.errorMessage)
        }
        if case .rejected = result { leaveCall() }
        switch result {
        case .completed((PP_OK, _), false): return .passed
        case .completed((let status, let message), false):
            return .failed(message ?? "check returned \(status) without saying why")
        case .completed(_, true), .abandoned:
            if case .abandoned = result { runner?.endForHang(jobID: "check") }
            return .failed("no answer within \(DurationSyntax.format(timeout))")
        case .rejected:
            return .failed("the host is shutting down")
        }
    }

    /// Refuses new calls and calls the plugin's `shutdown`, once, when no call
    /// is running. If calls are still running after `wait` (abandoned ones
    /// that ignore cancellation), the plugin's state is left as it is rather
    /// than freed under them. An isolated plugin's runner is asked to finish
    /// and exit within `wait`, then ended.
    ///
    /// - Returns: whether the plugin's `shutdown` ran (for an isolated plugin:
    ///   whether its runner was running).
    @discardableResult
    public func shutdown(wait: Duration = .seconds(5)) async -> Bool {
        let first = lifecycle.withLock { state -> Bool in
            defer { state.isShutDown = true }
            return !state.isShutDown
        }
        guard first else { return false }
        let deadline = ContinuousClock.now + wait
        while runningCalls > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        if let runner {
            let wasRunning = runner.snapshot.pid != nil
            await runner.stop(grace: max(.zero, deadline - ContinuousClock.now))
            if let spare = quarantine.withLock({ $0 }) { await spare.stop(grace: .milliseconds(100)) }
            return wasRunning
        }
        return shutdownIfIdle()
    }

    /// Calls the plugin's `shutdown` now if no call is running, and refuses
    /// calls from then on. For an instance that never ran a job (`validate`).
    @discardableResult
    public func shutdownIfIdle() -> Bool {
        if let runner {
            lifecycle.withLock { $0.isShutDown = true }
            Task { await runner.stop(grace: .seconds(1)) }
            return true
        }
        let idle = lifecycle.withLock { state -> Bool in
            state.isShutDown = true
            guard state.running == 0, !state.stateFreed else { return false }
            state.stateFreed = true
            return true
        }
        if idle { plugin.descriptor.shutdown!(state) }
        return idle
    }
}

/// What a plugin's `check` found.
public enum PluginCheckResult: Sendable, Equatable {
    case passed
    case failed(String)
}

/// Where a plugin's code runs, as pipeline.yaml says (`isolation`,
/// `max_memory`, `max_crashes` in its entry).
public struct PluginIsolation: Sendable, Hashable {
    public enum Mode: Sendable, Hashable {
        /// In the host process: for trusted plugins where the cost of a runner matters.
        case inProcess
        /// In a runner process of its own.
        case process(Limits)
    }

    public struct Limits: Sendable, Hashable {
        /// The most resident memory of the runner, in bytes; nil: no limit.
        public var maxMemory: Int64?

        public init(maxMemory: Int64? = nil) {
            self.maxMemory = maxMemory
        }
    }

    public var mode: Mode
    /// Runner deaths while a job ran alone in it before the job fails for
    /// good as a poison job.
    public var maxCrashes: Int

    public init(mode: Mode, maxCrashes: Int = 2) {
        self.mode = mode
        self.maxCrashes = maxCrashes
    }

    public static let inProcess = PluginIsolation(mode: .inProcess)
    public static let process = PluginIsolation(mode: .process(Limits()))

    /// `process` or `none`, as pipeline.yaml writes it.
    public var name: String {
        if case .process = mode { return "process" }
        return "none"
    }

    public var maxMemory: Int64? {
        if case .process(let limits) = mode { return limits.maxMemory }
        return nil
    }
}

/// An isolated plugin's runner, as the admin page and `validate --probe` show it.
public struct PluginIsolationStatus: Sendable, Encodable {
    public var mode: String
    public var pid: Int32?
    public var startedAt: Date?
    public var restarts = 0
    public var lastCrash: String?
    public var lastCrashJobs: [String] = []
    public var inFlight = 0
    public var memoryLimit: Int64?
    public var memoryMechanism: String?
}
