import Foundation
import Logging
import PluginABI

/// A plugin file that passed the loader's checks. It stays mapped for the
/// life of the process; ``start(name:configJSON:logger:)`` creates instances.
public final class LoadedPlugin: @unchecked Sendable {
    /// The file it was loaded from.
    public let path: String
    /// What its descriptor says.
    public let info: PluginDescriptorInfo
    /// The host's zero-extended copy of the descriptor (immutable).
    let descriptor: pp_plugin_descriptor

    init(path: String, info: PluginDescriptorInfo, descriptor: pp_plugin_descriptor) {
        self.path = path
        self.info = info
        self.descriptor = descriptor
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
        return PluginInstance(name: name, plugin: self, state: state, api: api)
    }
}

/// A started plugin: its state, and the calls into it.
public final class PluginInstance: @unchecked Sendable {
    /// The plugin's entry name in pipeline.yaml.
    public let name: String
    public let plugin: LoadedPlugin
    private let state: UnsafeMutableRawPointer?
    private let api: UnsafeMutablePointer<pp_host_api>
    /// Held around `execute` for plugins that set PP_FLAG_SERIAL_EXECUTE.
    private let serialLock: NSLock?
    private let shutDown = NSLock()
    nonisolated(unsafe) private var isShutDown = false

    init(name: String, plugin: LoadedPlugin, state: UnsafeMutableRawPointer?, api: UnsafeMutablePointer<pp_host_api>) {
        self.name = name
        self.plugin = plugin
        self.state = state
        self.api = api
        serialLock = plugin.info.serialExecution ? NSLock() : nil
    }

    /// Runs one job on `executor`'s threads.
    ///
    /// - Parameters:
    ///   - timeout: when the job's time is up, the plugin is asked to stop
    ///     (`is_cancelled` turns 1); if it has not returned `cancelGrace`
    ///     later, the host stops waiting and the attempt fails as retryable.
    ///   - effects: which follow-up effects the call may ask for.
    public func execute(
        _ job: PluginJob, on executor: BlockingExecutor, timeout: Duration, cancelGrace: Duration = .seconds(5),
        effects: PluginEffectPolicy
    ) async -> PluginCallOutcome {
        let call = PluginCall(purpose: .execute, job: job, effectPolicy: effects)
        let handle = PluginCallRegistry.register(call)
        let handleBits = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(handle)))
        let started = ContinuousClock.now
        let result = await executor.run(deadline: timeout, grace: cancelGrace, onDeadline: { call.cancel() }) {
            [self] () -> pp_outcome in
            self.serialLock?.lock()
            defer { self.serialLock?.unlock() }
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
        PluginCallRegistry.unregister(handle)
        return PluginCallOutcome(
            result: result, report: call.report, timeout: timeout, cancelGrace: cancelGrace,
            duration: ContinuousClock.now - started)
    }

    /// Runs the plugin's optional `check`: is its service reachable and its
    /// configuration right? `nil` when the plugin has no check.
    public func check(on executor: BlockingExecutor, timeout: Duration = .seconds(30)) async -> PluginCheckResult? {
        guard let check = plugin.descriptor.check else { return nil }
        let call = PluginCall(purpose: .check, job: nil, effectPolicy: .none)
        let handle = PluginCallRegistry.register(call)
        let handleBits = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(handle)))
        let result = await executor.run(deadline: timeout, grace: .seconds(5), onDeadline: { call.cancel() }) {
            [self] () -> pp_status in
            check(self.state, OpaquePointer(bitPattern: handleBits))
        }
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

    /// Calls the plugin's `shutdown`, once. No call may run at the same time
    /// or after.
    public func shutdown() {
        shutDown.lock()
        defer { shutDown.unlock() }
        guard !isShutDown else { return }
        isShutDown = true
        plugin.descriptor.shutdown!(state)
    }
}

/// What a plugin's `check` found.
public enum PluginCheckResult: Sendable, Equatable {
    case passed
    case failed(String)
}
