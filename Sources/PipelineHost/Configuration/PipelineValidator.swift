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
        let sharing = configuration.routedLists.map { Set($0.members) }
        for entry in configuration.plugins {
            do throws(PluginLoadError) {
                let plugin = try PluginLoader.load(path: entry.path, isolation: entry.isolation)
                try plugins.add(plugin, as: entry.name, sharing: sharing)
                if startsPlugins {
                    let instance = try plugin.start(name: entry.name, configJSON: entry.configJSON, logger: logger)
                    instance.shutdownIfIdle()
                }
            } catch {
                let location = error.code == .initFailed ? entry.configLocation : entry.pathLocation
                report(location, "plugins.\(entry.name): \(error)")
            }
        }
        // Every member of a list handles every job type bound to the list.
        let memberLocations =
            configuration.downloadClients.map { ($0.plugin, $0.location, "download client") }
            + configuration.libraryBackends.map { ($0.plugin, $0.location, "library backend") }
        for (list, members) in configuration.routedLists {
            for job in configuration.jobs where job.plugin == list {
                for member in members {
                    guard let plugin = plugins.plugin(named: member), !plugin.info.jobTypes.contains(job.name),
                        let entry = memberLocations.first(where: { $0.0 == member })
                    else { continue }
                    report(
                        entry.1,
                        "\(entry.2) '\(member)' (\(plugin.info.name)) does not handle job type '\(job.name)', which is bound to "
                            + "\(list); it handles: \(plugin.info.jobTypes.joined(separator: ", "))")
                }
            }
        }
        // A driver takes the protocols its table declares, and no others.
        for client in configuration.downloadClients {
            guard let plugin = plugins.plugin(named: client.plugin), let driver = plugin.info.interfaces.downloadClient else { continue }
            let extra = client.protocols.map(\.rawValue).filter { !driver.protocols.contains($0) }
            guard !extra.isEmpty else { continue }
            report(
                client.location,
                "download client '\(client.plugin)' is listed for \(extra.joined(separator: " and ")) (protocols: "
                    + "[\(client.protocols.map(\.rawValue).joined(separator: ", "))]\(client.protocolsWritten ? "" : ", the default")), and its driver "
                    + "(\(driver.displayName)) takes \(driver.protocols.joined(separator: " and ")): write protocols: [\(driver.protocols.joined(separator: ", "))]")
        }
        // A member of a list is reached through the list: a job type bound to
        // one member alone would leave the list's jobs without their instance
        // (a monitor that cannot tell which client has its download).
        for job in configuration.jobs {
            guard let list = configuration.routedLists.first(where: { $0.members.contains(job.plugin) }),
                configuration.jobs.contains(where: { $0.plugin == list.name })
            else { continue }
            report(
                job.pluginLocation,
                "job type '\(job.name)' is bound to '\(job.plugin)', a member of \(list.name), while other job types are bound "
                    + "to the list: bind it to \(list.name) too (plugin: \(list.name))")
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
