import PluginKit

/// Reads the Plex audiobook library and matches its items to requests, which then become available.
///
/// A skeleton for now: it declares its job types and fails every job for good,
/// saying so. Issue #6 fills it in.
struct PlexLibraryPlugin: PipelinePlugin {
    static let info = PluginInfo(
        id: "org.pipeline.library.plex",
        name: "Plex library",
        version: "0.1.0",
        jobTypes: ["scan_library", "library_recently_added_check"],
        description: "Reads the Plex audiobook library and matches its items to requests, which then become available.")

    init(configuration: PluginConfiguration, host: PluginHost) throws {}

    func execute(_ job: Job, context: JobContext) async throws -> JobOutcome {
        .notImplemented(job, in: Self.info, issue: 6)
    }
}
