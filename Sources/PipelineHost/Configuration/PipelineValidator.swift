import Logging

/// Checks a pipeline.yaml completely: the file itself, then every plugin it
/// names (loaded and, unless told not to, started with its configuration and
/// stopped again), then each job type against the plugin it is bound to.
/// Every problem found is reported, each at its place in the file.
public struct PipelineValidator: Sendable {
    public var loader: ConfigurationLoader
    /// Run each plugin's init with its config (and shutdown after), so that a
    /// bad plugin config is caught too.
    public var startsPlugins: Bool
    public var logger: Logger

    public init(loader: ConfigurationLoader = ConfigurationLoader(), startsPlugins: Bool = true, logger: Logger) {
        self.loader = loader
        self.startsPlugins = startsPlugins
        self.logger = logger
    }

    /// A configuration whose plugins loaded and whose job types they claim.
    public struct Result: Sendable {
        public var configuration: PipelineConfiguration
        public var plugins: PluginSet
    }

    /// ``validate(file:)`` on a thread of its own: validating starts and
    /// waits for plugin runners (and `dlopen`s plugins in process), which must
    /// never hold one of Swift's few cooperative threads.
    public func validated(file path: String) async throws(DiagnosticsError) -> Result {
        let validator = self
        let result = await onOwnThread { Swift.Result { () throws(DiagnosticsError) in try validator.validate(file: path) } }
        return try result.get()
    }

    /// Validates the file at `path`.
    ///
    /// - Throws: ``DiagnosticsError`` with every problem found.
    public func validate(file path: String) throws(DiagnosticsError) -> Result {
        let (configuration, diagnostics) = loader.loadCollecting(file: path)
        guard let configuration else { throw DiagnosticsError(diagnostics) }
        var problems = diagnostics
        func report(_ location: SourceLocation, _ message: String) {
            problems.append(Diagnostic(file: configuration.file, location: location, message: message))
        }

        var plugins = PluginSet()
        let sharers = Set(configuration.downloadClients.map(\.plugin))
        for entry in configuration.plugins {
            do throws(PluginLoadError) {
                let plugin = try PluginLoader.load(path: entry.path, isolation: entry.isolation)
                try plugins.add(plugin, as: entry.name, sharers: sharers)
                if startsPlugins {
                    let instance = try plugin.start(name: entry.name, configJSON: entry.configJSON, logger: logger)
                    instance.shutdownIfIdle()
                }
            } catch {
                let location = error.code == .initFailed ? entry.configLocation : entry.pathLocation
                report(location, "plugins.\(entry.name): \(error)")
            }
        }
        for job in configuration.jobs where job.plugin == DownloadClientRoute.listName {
            for client in configuration.downloadClients {
                guard let plugin = plugins.plugin(named: client.plugin), !plugin.info.jobTypes.contains(job.name) else { continue }
                report(
                    client.location,
                    "download client '\(client.plugin)' (\(plugin.info.name)) does not handle job type '\(job.name)', which is "
                        + "bound to download_clients; it handles: \(plugin.info.jobTypes.joined(separator: ", "))")
            }
        }
        for job in configuration.jobs {
            guard let plugin = plugins.plugin(named: job.plugin) else { continue }
            if !plugin.info.jobTypes.contains(job.name) {
                report(
                    job.pluginLocation,
                    "job type '\(job.name)' is bound to plugin '\(job.plugin)' (\(plugin.info.name)), which does not "
                        + "handle it; it handles: \(plugin.info.jobTypes.joined(separator: ", "))")
            }
        }
        if !problems.isEmpty { throw DiagnosticsError(problems) }
        return Result(configuration: configuration, plugins: plugins)
    }
}
