/// A processor plugin written in Swift.
///
/// Conform a type to this protocol and export it from the plugin's library
/// with one function (see ``PluginExport``):
///
/// ```swift
/// import PluginABI
/// import PluginKit
///
/// @c public func pipeline_plugin_entry_v1(_ major: UInt32, _ minor: UInt32)
///     -> UnsafePointer<pp_plugin_descriptor>?
/// {
///     PluginExport.descriptor(for: EchoPlugin.self, hostMajor: major, hostMinor: minor)
/// }
///
/// struct EchoPlugin: PipelinePlugin {
///     static let info = PluginInfo(id: "org.example.echo", name: "Echo", version: "1.0.0",
///                                  jobTypes: ["echo"])
///     init(configuration: PluginConfiguration, host: PluginHost) throws {}
///     func execute(_ job: Job, context: JobContext) async throws -> JobOutcome {
///         .done(try job.payload(as: JSONValue.self))
///     }
/// }
/// ```
///
/// The host calls ``execute(_:context:)`` on its worker threads, several at
/// once up to the job type's concurrency unless ``PluginInfo/serialExecution``
/// is set, so a conforming type must be safe to share.
public protocol PipelinePlugin: Sendable {
    /// The plugin's identity and the job types it handles.
    static var info: PluginInfo { get }

    /// Creates the plugin from its `config` object in pipeline.yaml.
    ///
    /// - Throws: ``PluginError`` (or any error) when the configuration is
    ///   unusable; the message should name the setting to fix. The host then
    ///   refuses to start the plugin.
    init(configuration: PluginConfiguration, host: PluginHost) throws

    /// Runs one job.
    ///
    /// Return a ``JobOutcome``, or throw: a ``PluginError`` carries its own
    /// disposition, a payload that does not decode fails for good, and any
    /// other error is transient.
    func execute(_ job: Job, context: JobContext) async throws -> JobOutcome

    /// Checks that the outside service is reachable and the configuration
    /// works. The default does nothing.
    func check(context: JobContext) async throws

    /// Releases what the plugin holds. Called once, after its last job.
    func shutdown()

    /// The typed interfaces the plugin offers beside its job types (since ABI 1.3).
    /// The default offers none.
    static var extensionTables: [PluginExtensionTable] { get }
}

extension PipelinePlugin {
    public func check(context: JobContext) async throws {}
    public func shutdown() {}
    public static var extensionTables: [PluginExtensionTable] { [] }
}

/// One interface a plugin offers through the descriptor's `get_extension`
/// (since ABI 1.3): its id (`PP_EXTENSION_DOWNLOAD_CLIENT`, …) and its static C
/// table. DownloadClientKit and LibraryBackendKit provide these; a plugin
/// rarely writes one by hand.
public struct PluginExtensionTable: @unchecked Sendable {
    public var id: String
    public var table: UnsafeRawPointer

    public init(id: String, table: UnsafeRawPointer) {
        self.id = id
        self.table = table
    }
}

/// A plugin's identity: what `pipeline-host plugin inspect` shows.
public struct PluginInfo: Sendable, Hashable {
    /// A reverse-DNS id, unique to the plugin.
    public var id: String
    /// A short name for people.
    public var name: String
    /// The plugin's own version.
    public var version: String
    /// The job types the plugin handles.
    public var jobTypes: [String]
    /// A sentence or two about the plugin.
    public var description: String?
    /// Set when `execute` must never run twice at once.
    public var serialExecution: Bool

    public init(
        id: String, name: String, version: String, jobTypes: [String], description: String? = nil,
        serialExecution: Bool = false
    ) {
        self.id = id
        self.name = name
        self.version = version
        self.jobTypes = jobTypes
        self.description = description
        self.serialExecution = serialExecution
    }
}
