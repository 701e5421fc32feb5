import DownloadClientKit
import Foundation
import PluginKit

/// The download jobs, written once over any download-client driver:
/// `download_torrent` (fetch the chosen release, or failing that its
/// alternates, add it, hand it to the monitor) and `monitor_download` (poll
/// with backoff until the data is there, then hand it to `organize_files`).
///
/// The host runs these for every plugin that offers the download-client
/// interface, in the process where the driver runs (the host, or the
/// plugin's runner).
public struct DownloadJobs: Sendable {
    /// The job types, as pipeline.yaml binds them.
    public static let jobTypes = [DownloadJobTypes.download, DownloadJobTypes.monitor, DownloadJobTypes.cleanup]

    public private(set) var driver: any DownloadClientDriver
    public let settings: DownloadJobSettings
    let fetcher: ReleaseFetcher
    let monitor: DownloadMonitor

    /// - Parameter configurationJSON: the instance's `config`, which holds the
    ///   jobs' settings beside the client's own.
    /// - Throws: ``PluginError`` naming the setting at fault.
    public init(driver: any DownloadClientDriver, configurationJSON: String) throws {
        self.driver = driver
        settings = try PluginConfiguration(json: configurationJSON).decode(DownloadJobSettings.self)
        fetcher = ReleaseFetcher(
            timeout: settings.requestTimeout, apiKey: settings.indexerAPIKey, indexerURL: settings.indexerURL,
            maximumBytes: settings.maxTorrentBytes)
        monitor = DownloadMonitor(policy: settings.monitor, clientName: driver.displayName)
    }

    /// The same jobs over another handle to the driver (one bound to a job's call).
    public func using(_ driver: any DownloadClientDriver) -> DownloadJobs {
        var copy = self
        copy.driver = driver
        return copy
    }

    /// Runs one job of ``jobTypes``.
    public func execute(_ job: Job, context: JobContext) async throws -> JobOutcome {
        switch job.type {
        case DownloadJobTypes.download:
            return try await DownloadTorrentJob(jobs: self, job: job, context: context).run()
        case DownloadJobTypes.monitor:
            return try await MonitorDownloadJob(jobs: self, job: job, context: context).run()
        case DownloadJobTypes.cleanup:
            return try await CleanupSeededTorrentsJob(jobs: self, job: job, context: context).run()
        default:
            return .fail("the download jobs do not include '\(job.type)'")
        }
    }
}

extension TorrentSource {
    var downloadSource: DownloadItem.Source {
        switch self {
        case .metainfo(let data, _): return .torrentFile(data)
        case .magnet(let link, _): return .magnet(link)
        }
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
