import Foundation
import PluginABI

/// Exports a ``PipelinePlugin`` through the C ABI.
///
/// A Swift plugin's library exports the ABI's one entry symbol by writing it
/// as a three-line function that hands its plugin type to
/// ``descriptor(for:hostMajor:hostMinor:)``. The symbol has to live in the
/// plugin's own module (PluginKit is linked into every Swift plugin, and the
/// entry symbol names the plugin it belongs to); everything else, from the
/// descriptor's static storage to the mapping of thrown errors onto outcomes,
/// is done here.
public enum PluginExport {
    /// The descriptor for `type`, built on the first call and kept for the
    /// life of the process, or `nil` when the host speaks another ABI major.
    public static func descriptor<P: PipelinePlugin>(
        for type: P.Type, hostMajor: UInt32, hostMinor: UInt32
    ) -> UnsafePointer<pp_plugin_descriptor>? {
        guard hostMajor == UInt32(PP_ABI_VERSION_MAJOR) else { return nil }
        lock.lock()
        defer { lock.unlock() }
        if let exported { return UnsafePointer(exported) }
        pluginType = type
        extensions = Dictionary(P.extensionTables.map { ($0.id, $0.table) }, uniquingKeysWith: { first, _ in first })
        let built = makeDescriptor(P.info)
        exported = built
        return UnsafePointer(built)
    }

    /// The build signature of a Swift plugin: the platform, plus the Swift
    /// toolchain, since a Swift plugin shares the host's Swift runtime.
    public static var buildSignature: String {
        String(cString: pp_build_signature()) + " " + String(cString: pp_swift_toolchain_signature())
    }

    // One plugin type per library: each plugin has its own copy of PluginKit.
    private static let lock = NSLock()
    nonisolated(unsafe) private static var exported: UnsafeMutablePointer<pp_plugin_descriptor>?
    nonisolated(unsafe) private static var pluginType: (any PipelinePlugin.Type)?
    nonisolated(unsafe) private static var extensions: [String: UnsafeRawPointer] = [:]

    /// The plugin and host table behind a `void *state` that `init` made:
    /// for the C tables of the kits' interfaces.
    package static func instance(_ state: UnsafeMutableRawPointer?) -> (plugin: any PipelinePlugin, api: UnsafePointer<pp_host_api>)? {
        guard let state else { return nil }
        let instance = Unmanaged<PluginInstance>.fromOpaque(state).takeUnretainedValue()
        return (instance.plugin, instance.api)
    }

    private static func makeDescriptor(_ info: PluginInfo) -> UnsafeMutablePointer<pp_plugin_descriptor> {
        let descriptor = UnsafeMutablePointer<pp_plugin_descriptor>.allocate(capacity: 1)
        descriptor.initialize(to: pp_plugin_descriptor())
        descriptor.pointee.struct_size = UInt32(MemoryLayout<pp_plugin_descriptor>.size)
        descriptor.pointee.abi_major = UInt32(PP_ABI_VERSION_MAJOR)
        descriptor.pointee.abi_minor = UInt32(PP_ABI_VERSION_MINOR)
        descriptor.pointee.flags = info.serialExecution ? PP_FLAG_SERIAL_EXECUTE : 0
        descriptor.pointee.build_signature = permanentCString(buildSignature)
        descriptor.pointee.id = permanentCString(info.id)
        descriptor.pointee.name = permanentCString(info.name)
        descriptor.pointee.version = permanentCString(info.version)
        descriptor.pointee.description = info.description.map(permanentCString)
        let jobTypes = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: info.jobTypes.count + 1)
        for (index, jobType) in info.jobTypes.enumerated() {
            (jobTypes + index).initialize(to: permanentCString(jobType))
        }
        (jobTypes + info.jobTypes.count).initialize(to: nil)
        descriptor.pointee.job_types = UnsafePointer(jobTypes)
        descriptor.pointee.`init` = initTrampoline
        descriptor.pointee.execute = executeTrampoline
        descriptor.pointee.shutdown = shutdownTrampoline
        descriptor.pointee.check = checkTrampoline
        descriptor.pointee.get_extension = extensions.isEmpty ? nil : extensionTrampoline
        return descriptor
    }

    /// A copy of `text` that is never freed: descriptor strings live as long
    /// as the process.
    private static func permanentCString(_ text: String) -> UnsafePointer<CChar> {
        UnsafePointer(strdup(text)!)
    }

    private static let initTrampoline:
        @convention(c) (
            UnsafePointer<pp_host_api>?, UnsafePointer<CChar>?, OpaquePointer?,
            UnsafeMutablePointer<UnsafeMutableRawPointer?>?
        ) -> pp_status = { api, configJSON, call, stateOut in
            guard let api, let call, let stateOut, let type = PluginExport.pluginType else {
                return PP_ERR_INVALID_ARGUMENT
            }
            let configuration = PluginConfiguration(json: configJSON.map { String(cString: $0) } ?? "{}")
            do {
                let plugin = try type.init(configuration: configuration, host: PluginHost(api: api))
                let instance = PluginInstance(plugin: plugin, api: api)
                stateOut.pointee = Unmanaged.passRetained(instance).toOpaque()
                return PP_OK
            } catch {
                let outcome = OutcomeMapping.outcome(for: error)
                _ = api.pointee.set_error(call, outcome.message ?? "init failed", nil)
                return PP_ERR_FAILED
            }
        }

    private static let executeTrampoline:
        @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<pp_job>?, OpaquePointer?) -> pp_outcome = {
            state, job, call in
            guard let state, let job, let call else { return PP_OUTCOME_FAIL }
            let instance = Unmanaged<PluginInstance>.fromOpaque(state).takeUnretainedValue()
            let context = JobContext(api: instance.api, call: call)
            let input = Job(
                id: String(cString: job.pointee.id),
                type: String(cString: job.pointee.type),
                attempt: Int(job.pointee.attempt),
                maxAttempts: Int(job.pointee.max_attempts),
                createdAt: Date(timeIntervalSince1970: Double(job.pointee.created_at_ms) / 1000),
                payloadJSON: job.pointee.payload_json.map { String(cString: $0) } ?? "{}")
            let plugin = instance.plugin
            let outcome = runBlocking(isCancelled: { context.isCancelled }) {
                do {
                    return try await plugin.execute(input, context: context)
                } catch {
                    return OutcomeMapping.outcome(for: error)
                }
            }
            return OutcomeMapping.deliver(outcome, api: instance.api, call: call)
        }

    private static let checkTrampoline:
        @convention(c) (UnsafeMutableRawPointer?, OpaquePointer?) -> pp_status = { state, call in
            guard let state, let call else { return PP_ERR_INVALID_ARGUMENT }
            let instance = Unmanaged<PluginInstance>.fromOpaque(state).takeUnretainedValue()
            let context = JobContext(api: instance.api, call: call)
            let plugin = instance.plugin
            let failure: JobOutcome? = runBlocking(isCancelled: { context.isCancelled }) {
                do {
                    try await plugin.check(context: context)
                    return nil
                } catch {
                    return OutcomeMapping.outcome(for: error)
                }
            }
            guard let failure else { return PP_OK }
            _ = instance.api.pointee.set_error(call, failure.message ?? "check failed", nil)
            return PP_ERR_FAILED
        }

    private static let extensionTrampoline: @convention(c) (UnsafePointer<CChar>?) -> UnsafeRawPointer? = { id in
        guard let id else { return nil }
        return PluginExport.extensions[String(cString: id)]
    }

    private static let shutdownTrampoline: @convention(c) (UnsafeMutableRawPointer?) -> Void = { state in
        guard let state else { return }
        let instance = Unmanaged<PluginInstance>.fromOpaque(state).takeRetainedValue()
        instance.plugin.shutdown()
    }
}

/// A plugin instance as the host holds it: the `void *state` of the ABI.
final class PluginInstance: @unchecked Sendable {
    let plugin: any PipelinePlugin
    let api: UnsafePointer<pp_host_api>

    init(plugin: any PipelinePlugin, api: UnsafePointer<pp_host_api>) {
        self.plugin = plugin
        self.api = api
    }
}

