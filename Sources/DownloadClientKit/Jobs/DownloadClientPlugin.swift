import Foundation
import PluginKit

/// The plugin of a download client: `download_torrent` and
/// `monitor_download`, written once over any ``DownloadClient``.
///
/// Export it from the client's library:
///
/// ```swift
/// @c public func pipeline_plugin_entry_v1(_ major: UInt32, _ minor: UInt32)
///     -> UnsafePointer<pp_plugin_descriptor>?
/// {
///     PluginExport.descriptor(for: DownloadClientPlugin<DelugeClient>.self, hostMajor: major, hostMinor: minor)
/// }
/// ```
public struct DownloadClientPlugin<Client: DownloadClient>: PipelinePlugin {
    public static var info: PluginInfo { Client.pluginInfo }

    let client: Client
    let settings: DownloadClientSettings
    let fetcher: ReleaseFetcher
    let monitor: DownloadMonitor

    public init(configuration: PluginConfiguration, host: PluginHost) throws {
        settings = try configuration.decode(DownloadClientSettings.self)
        client = try Client(settings: settings, configuration: configuration, host: host)
        fetcher = ReleaseFetcher(
            timeout: settings.requestTimeout, apiKey: settings.indexerAPIKey, indexerURL: settings.indexerURL,
            maximumBytes: settings.maxTorrentBytes)
        monitor = DownloadMonitor(policy: settings.monitor, clientName: Client.displayName)
    }

    public func execute(_ job: Job, context: JobContext) async throws -> JobOutcome {
        switch job.type {
        case DownloadJobTypes.download:
            return try await DownloadTorrentJob(plugin: self, job: job, context: context).run()
        case DownloadJobTypes.monitor:
            return try await MonitorDownloadJob(plugin: self, job: job, context: context).run()
        default:
            return .fail("\(Client.displayName) plugin does not handle job type '\(job.type)'")
        }
    }

    /// `pipeline-host validate --probe`: the client answers and takes the credentials.
    public func check(context: JobContext) async throws {
        do {
            let version = try await client.testConnection()
            context.log(.info, "\(Client.displayName) \(version) answers at \(settings.url.redactingSecretsForLog)")
        } catch {
            throw PluginError.permanent("\(Client.displayName) at \(settings.url.redactingSecretsForLog): \(error)")
        }
    }
}

extension URL {
    var redactingSecretsForLog: String {
        guard var components = URLComponents(url: self, resolvingAgainstBaseURL: false) else { return absoluteString }
        if components.password != nil { components.password = "***" }
        return components.string ?? absoluteString
    }
}

/// The error a client call ended in, as the job outcome it leads to.
extension DownloadClientError {
    var pluginError: PluginError {
        switch self {
        case .authenticationFailed(let message): return .permanent(message)
        case .unreachable(let message), .unexpected(let message), .rejected(let message):
            return .transient(message)
        }
    }
}
