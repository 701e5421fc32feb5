import PluginKit

/// Searches the indexers behind Prowlarr for a requested audiobook, ranks the releases and hands the best to the download client.
///
/// A skeleton for now: it declares its job types and fails every job for good,
/// saying so. Issue #6 fills it in.
struct ProwlarrSearchPlugin: PipelinePlugin {
    static let info = PluginInfo(
        id: "org.pipeline.search.prowlarr",
        name: "Prowlarr search",
        version: "0.1.0",
        jobTypes: ["search_indexers", "retry_missing_torrents"],
        description: "Searches the indexers behind Prowlarr for a requested audiobook, ranks the releases and hands the best to the download client.")

    init(configuration: PluginConfiguration, host: PluginHost) throws {}

    func execute(_ job: Job, context: JobContext) async throws -> JobOutcome {
        .notImplemented(job, in: Self.info, issue: 6)
    }
}
