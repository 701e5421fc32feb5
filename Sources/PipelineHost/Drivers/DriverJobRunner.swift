import DownloadClientKit
import DriverJobs
import Foundation
import PluginABI
import PluginKit

/// Runs the host's own jobs over a started plugin's interfaces: the
/// download jobs over its download-client table, the library jobs over its
/// library-backend table. Made once per instance, in the process where the
/// plugin runs (the host, or its runner), from the instance's config.
final class DriverJobRunner: @unchecked Sendable {
    private let plugin: LoadedPlugin
    private let state: UnsafeMutableRawPointer?
    private let api: UnsafeMutablePointer<pp_host_api>
    private let hostContext: PluginHostContext
    private let downloads: DownloadJobs?
    private let library: LibraryJobs?
    let jobTypes: Set<String>

    struct SettingsError: Error {
        var message: String
    }

    init(
        plugin: LoadedPlugin, state: UnsafeMutableRawPointer?, api: UnsafeMutablePointer<pp_host_api>, hostContext: PluginHostContext,
        configJSON: String
    ) throws(SettingsError) {
        self.plugin = plugin
        self.state = state
        self.api = api
        self.hostContext = hostContext
        jobTypes = Set(plugin.info.interfaces.hostJobTypes)
        do {
            downloads = try Self.downloadClient(plugin: plugin, state: state, parent: nil, hostContext: hostContext).map {
                try DownloadJobs(driver: $0, configurationJSON: configJSON)
            }
            library = try Self.libraryBackend(plugin: plugin, state: state, parent: nil, hostContext: hostContext).map {
                try LibraryJobs(backend: $0, configurationJSON: configJSON)
            }
        } catch {
            throw SettingsError(message: OutcomeMapping.outcome(for: error).message ?? "\(error)")
        }
    }

    static func downloadClient(
        plugin: LoadedPlugin, state: UnsafeMutableRawPointer?, parent: PluginCall?, hostContext: PluginHostContext?
    ) -> DriverDownloadClient? {
        guard let table = plugin.drivers.downloadClient, let interface = plugin.info.interfaces.downloadClient else { return nil }
        return DriverDownloadClient(
            table: table,
            binding: DriverBinding(state: state, parent: parent, hostContext: hostContext, displayName: interface.displayName),
            interface: interface)
    }

    static func libraryBackend(
        plugin: LoadedPlugin, state: UnsafeMutableRawPointer?, parent: PluginCall?, hostContext: PluginHostContext?
    ) -> DriverLibraryBackend? {
        guard let table = plugin.drivers.libraryBackend, let interface = plugin.info.interfaces.libraryBackend else { return nil }
        return DriverLibraryBackend(
            table: table,
            binding: DriverBinding(state: state, parent: parent, hostContext: hostContext, displayName: interface.displayName),
            interface: interface)
    }

    /// Runs `job` (one of ``jobTypes``) on the calling thread, through the
    /// same host services a plugin's `execute` uses.
    func execute(_ job: PluginJob, call: PluginCall, handle: OpaquePointer) -> pp_outcome {
        let context = JobContext(api: UnsafePointer(api), call: handle)
        let input = Job(
            id: job.id, type: job.type, attempt: job.attempt, maxAttempts: job.maxAttempts,
            createdAt: Date(timeIntervalSince1970: Double(job.createdAtMilliseconds) / 1000), payloadJSON: job.payloadJSON)
        let downloads = downloads.map { jobs in
            jobs.using(Self.downloadClient(plugin: plugin, state: state, parent: call, hostContext: hostContext)!)
        }
        let library = library.map { jobs in
            jobs.using(Self.libraryBackend(plugin: plugin, state: state, parent: call, hostContext: hostContext)!)
        }
        let outcome: JobOutcome = runBlocking(isCancelled: { call.isCancelled }) {
            do {
                if let downloads, DownloadJobs.jobTypes.contains(input.type) {
                    return try await downloads.execute(input, context: context)
                }
                if let library, LibraryJobs.jobTypes.contains(input.type) {
                    return try await library.execute(input, context: context)
                }
                return .fail("no interface of this plugin runs '\(input.type)'")
            } catch {
                return OutcomeMapping.outcome(for: error)
            }
        }
        return OutcomeMapping.deliver(outcome, api: UnsafePointer(api), call: handle)
    }

    /// The driver's `test`, for `validate --probe` (as a plugin's `check`).
    func check(call: PluginCall) -> pp_status {
        let message: String? = runBlocking(isCancelled: { call.isCancelled }) { [self] in
            do {
                if let client = Self.downloadClient(plugin: plugin, state: state, parent: call, hostContext: hostContext) {
                    _ = try await client.testConnection()
                }
                if let backend = Self.libraryBackend(plugin: plugin, state: state, parent: call, hostContext: hostContext) {
                    _ = try await backend.test()
                }
                return nil
            } catch {
                return "\(error)"
            }
        }
        guard let message else { return PP_OK }
        call.update { $0.errorMessage = message }
        return PP_ERR_FAILED
    }
}
