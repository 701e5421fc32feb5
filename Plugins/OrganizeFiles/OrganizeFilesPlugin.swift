import PluginKit

/// Copies or hardlinks a finished download's audiobook files into the library under a path built from a template.
///
/// A skeleton for now: it declares its job types and fails every job for good,
/// saying so. Issue #6 fills it in.
struct OrganizeFilesPlugin: PipelinePlugin {
    static let info = PluginInfo(
        id: "org.pipeline.organize.files",
        name: "File organiser",
        version: "0.1.0",
        jobTypes: ["organize_files", "retry_failed_imports"],
        description: "Copies or hardlinks a finished download's audiobook files into the library under a path built from a template.")

    init(configuration: PluginConfiguration, host: PluginHost) throws {}

    func execute(_ job: Job, context: JobContext) async throws -> JobOutcome {
        .notImplemented(job, in: Self.info, issue: 6)
    }
}
