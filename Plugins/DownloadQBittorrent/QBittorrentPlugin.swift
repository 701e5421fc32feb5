import PluginKit

/// Adds releases to qBittorrent through its WebUI API v2 and monitors the downloads until they complete.
///
/// A skeleton for now: it declares its job types and fails every job for good,
/// saying so. Issue #5 fills it in.
struct QBittorrentPlugin: PipelinePlugin {
    static let info = PluginInfo(
        id: "org.pipeline.download.qbittorrent",
        name: "qBittorrent download client",
        version: "0.1.0",
        jobTypes: ["download_torrent", "monitor_download"],
        description: "Adds releases to qBittorrent through its WebUI API v2 and monitors the downloads until they complete.")

    init(configuration: PluginConfiguration, host: PluginHost) throws {}

    func execute(_ job: Job, context: JobContext) async throws -> JobOutcome {
        .notImplemented(job, in: Self.info, issue: 5)
    }
}
