import Foundation
import Logging
import PluginABI
import Synchronization

/// A plugin file that passed the loader's checks. It stays mapped for the
/// life of the process; ``start(name:configJSON:logger:)`` creates instances.
public final class LoadedPlugin: @unchecked Sendable {
    /// The file it was loaded from.
    public let path: String
    /// What its descriptor says.
    public let info: PluginDescriptorInfo
    /// The host's zero-extended copy of the descriptor (immutable).
    let descriptor: pp_plugin_descriptor
    /// Which build of the file this is (a reload loads a new build as a new copy).
    let build: PluginImages.FileIdentity?
    /// The file the image was mapped from: ``path``, or the copy a later build was given.
    public let imagePath: String

    init(
        path: String, info: PluginDescriptorInfo, descriptor: pp_plugin_descriptor, build: PluginImages.FileIdentity? = nil,
        imagePath: String? = nil
    ) {
        self.path = path
        self.info = info
        self.descriptor = descriptor
        self.build = build
        self.imagePath = imagePath ?? path
    }

    /// Runs the plugin's `init` with its configuration and returns the
    /// running instance. Call it off Swift's cooperative pool: `init` may block.
    ///
    /// - Parameters:
    ///   - name: the plugin's entry name in pipeline.yaml, for logs and messages.
    ///   - configJSON: its `config` object as JSON.
    ///   - configSource: where that config comes from, for the error message
    ///     (default: `plugins.<name>.config in pipeline.yaml`).
    /// - Throws: ``PluginLoadError`` with code `initFailed` and the plugin's reason.
    public func start(name: String, configJSON: String, configSource: String? = nil, logger: Logger)
        throws(PluginLoadError) -> PluginInstance
    {
        let context = PluginHostContext(name: name, pluginID: info.id, logger: logger)
        let api = HostServicesTable.make(for: context)
        let call = PluginCall(purpose: .initialize, job: nil, effectPolicy: .none)
        let handle = PluginCallRegistry.register(call)
        defer { PluginCallRegistry.unregister(handle) }
        var state: UnsafeMutableRawPointer?
        let status = configJSON.withCString { config in descriptor.`init`!(api, config, handle, &state) }
        guard status == PP_OK else {
            let reason =
                call.report.errorMessage
                ?? "init returned \(status) without saying why (the plugin did not call set_error)"
            throw PluginLoadError(
                .initFailed, path: path, problem: "init failed: \(reason)",
                fix: "fix \(configSource ?? "plugins.\(name).config in pipeline.yaml")")
        }
        return PluginInstance(name: name, plugin: self, configJSON: configJSON, state: state, api: api)
    }
}

/// A started plugin: its state, and the calls into it.
///
/// The instance counts the calls running in the plugin, so that `shutdown`
/// never frees the plugin's state under a call that is still running (one the
/// host abandoned after its timeout, say); such a state is left alone.
public final class PluginInstance: @unchecked Sendable {
    /// The plugin's entry name in pipeline.yaml.
    public let name: String
    public let plugin: LoadedPlugin
    /// The config it was started with (a reload keeps an instance whose config is unchanged).
    public let configJSON: String
    private let state: UnsafeMutableRawPointer?
    private let api: UnsafeMutablePointer<pp_host_api>
    /// Lets one execute through at a time, for plugins that set PP_FLAG_SERIAL_EXECUTE.
    private let serialGate: AsyncGate?
    private let lifecycle = Mutex<(running: Int, isShutDown: Bool, stateFreed: Bool)>((0, false, false))

    init(
        name: String, plugin: LoadedPlugin, configJSON: String, state: UnsafeMutableRawPointer?, api: UnsafeMutablePointer<pp_host_api>
    ) {
        self.name = name
        self.plugin = plugin
        self.configJSON = configJSON
        self.state = state
        self.api = api
        serialGate = plugin.info.serialExecution ? AsyncGate() : nil
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

    /// Runs one job on `executor`'s threads.
    ///
    /// - Parameters:
    ///   - timeout: when the job has run this long, the plugin is asked to stop
    ///     (`is_cancelled` turns 1); if it has not returned `cancelGrace`
    ///     later, the host stops waiting and the attempt fails as retryable.
    ///     Waiting for a thread, or for a serial plugin's previous job, does
    ///     not count.
    ///   - effects: which follow-up effects the call may ask for.
    ///   - call: receives the call as soon as it exists, so that the caller
    ///     can cancel it (a lost lock, a shutdown).
    public func execute(
        _ job: PluginJob, on executor: BlockingExecutor, timeout: Duration, cancelGrace: Duration = .seconds(5),
        effects: PluginEffectPolicy, call callHandler: (@Sendable (PluginCall) -> Void)? = nil
    ) async -> PluginCallOutcome {
        let call = PluginCall(purpose: .execute, job: job, effectPolicy: effects)
        callHandler?(call)
        guard enterCall() else {
            return PluginCallOutcome(
                result: .rejected, report: call.report, timeout: timeout, cancelGrace: cancelGrace, duration: .zero)
        }
        await serialGate?.enter()
        let handle = PluginCallRegistry.register(call)
        let handleBits = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(handle)))
        let started = ContinuousClock.now
        let result = await executor.run(deadline: timeout, grace: cancelGrace, onDeadline: { call.cancel() }) {
            [self] () -> pp_outcome in
            defer {
                self.leaveCall()
                call.markReturned()
            }
            let handle = OpaquePointer(bitPattern: handleBits)
            return job.id.withCString { id in
                job.type.withCString { type in
                    job.payloadJSON.withCString { payload in
                        var input = pp_job(
                            struct_size: UInt32(MemoryLayout<pp_job>.size), attempt: UInt32(clamping: job.attempt),
                            max_attempts: UInt32(clamping: job.maxAttempts), reserved0: 0, id: id, type: type,
                            payload_json: payload, created_at_ms: job.createdAtMilliseconds)
                        return self.plugin.descriptor.execute!(self.state, &input, handle)
                    }
                }
            }
        }
        if case .rejected = result {
            leaveCall()
            call.markReturned()
        }
        serialGate?.leave()
        PluginCallRegistry.unregister(handle)
        var outcome = PluginCallOutcome(
            result: result, report: call.report, timeout: timeout, cancelGrace: cancelGrace,
            duration: ContinuousClock.now - started)
        if case .abandoned = result { outcome.abandonedCall = call }
        return outcome
    }

    /// Runs the plugin's optional `check`: is its service reachable and its
    /// configuration right? `nil` when the plugin has no check.
    public func check(on executor: BlockingExecutor, timeout: Duration = .seconds(30)) async -> PluginCheckResult? {
        guard let check = plugin.descriptor.check else { return nil }
        guard enterCall() else { return .failed("the plugin is shut down") }
        let call = PluginCall(purpose: .check, job: nil, effectPolicy: .none)
        let handle = PluginCallRegistry.register(call)
        let handleBits = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(handle)))
        let result = await executor.run(deadline: timeout, grace: .seconds(5), onDeadline: { call.cancel() }) {
            [self] () -> pp_status in
            defer { self.leaveCall() }
            return check(self.state, OpaquePointer(bitPattern: handleBits))
        }
        if case .rejected = result { leaveCall() }
        PluginCallRegistry.unregister(handle)
        switch result {
        case .completed(PP_OK, false): return .passed
        case .completed(let status, false):
            return .failed(call.report.errorMessage ?? "check returned \(status) without saying why")
        case .completed(_, true), .abandoned:
            return .failed("no answer within \(DurationSyntax.format(timeout))")
        case .rejected:
            return .failed("the host is shutting down")
        }
    }

    /// Refuses new calls and calls the plugin's `shutdown`, once, when no call
    /// is running. If calls are still running after `wait` (abandoned ones
    /// that ignore cancellation), the plugin's state is left as it is rather
    /// than freed under them.
    ///
    /// - Returns: whether the plugin's `shutdown` ran.
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
        return shutdownIfIdle()
    }

    /// Calls the plugin's `shutdown` now if no call is running, and refuses
    /// calls from then on. For an instance that never ran a job (`validate`).
    @discardableResult
    public func shutdownIfIdle() -> Bool {
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
