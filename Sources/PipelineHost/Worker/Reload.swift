import Foundation
import Logging

/// Where a running host reads its configuration again on a reload.
public struct ReloadSource: Sendable {
    /// pipeline.yaml.
    public var file: String
    /// How the file is read (environment, plugin directory), as at start.
    public var loader: ConfigurationLoader

    public init(file: String, loader: ConfigurationLoader = ConfigurationLoader()) {
        self.file = file
        self.loader = loader
    }
}

/// What a reload did, or why it did nothing.
public enum ReloadOutcome: Sendable {
    /// The new configuration is in force.
    case applied(ReloadSummary)
    /// Nothing changed: the running configuration stays. Each problem says
    /// what and where (file:line:column for the configuration's own).
    case refused([String])

    public var isApplied: Bool {
        if case .applied = self { return true }
        return false
    }
}

/// The changes a reload made.
public struct ReloadSummary: Sendable, Codable, Equatable {
    /// Plugins started from a file, build or config they did not run before.
    public var pluginsStarted: [String]
    /// Plugins kept running as they were.
    public var pluginsKept: [String]
    /// Plugins that stop once their running jobs are done.
    public var pluginsRetired: [String]
    public var jobTypesAdded: [String]
    public var jobTypesRemoved: [String]
    /// Job types whose settings or plugin changed.
    public var jobTypesChanged: [String]

    enum CodingKeys: String, CodingKey {
        case pluginsStarted = "plugins_started"
        case pluginsKept = "plugins_kept"
        case pluginsRetired = "plugins_retired"
        case jobTypesAdded = "job_types_added"
        case jobTypesRemoved = "job_types_removed"
        case jobTypesChanged = "job_types_changed"
    }
}

extension PipelineRuntime {
    /// Reads pipeline.yaml again and puts it in force without a restart
    /// (SIGHUP, `POST /api/admin/reload`).
    ///
    /// The file and its plugins are validated first; a file with any problem
    /// is refused and the running configuration stays. Otherwise: plugins
    /// whose file, build and config are unchanged keep running; others are
    /// started beside the old ones (a new build at the same path as a new
    /// copy); every job type gets a new worker with its new settings, which
    /// takes jobs at once, while the replaced workers take no more and let
    /// their running jobs finish, after which the plugins no longer used are
    /// shut down. Schedules are written again. Redis, PostgreSQL and the admin
    /// API's address and token need a restart; changing them is refused.
    public func reload() async -> ReloadOutcome {
        guard let reloadSource else {
            return .refused(["this host was started without a configuration file to read again; restart it instead"])
        }
        await reloadGate.enter()
        defer { reloadGate.leave() }
        let validator = PipelineValidator(loader: reloadSource.loader, startsPlugins: false, logger: logger)
        let reading = BlockingExecutor(threads: 1)
        let validation = await reading.run {
            Result { () throws(DiagnosticsError) in try validator.validate(file: reloadSource.file) }
        }
        await reading.shutdown()
        let validated: PipelineValidator.Result
        switch validation {
        case .success(let result)?: validated = result
        case .failure(let error)?:
            return refuse(error.diagnostics.map(\.description))
        case nil:
            return refuse(["the host is shutting down"])
        }
        let old = configuration
        let new = validated.configuration
        var fixed: [String] = []
        if old.redis.url != new.redis.url || old.redis.prefix != new.redis.prefix {
            fixed.append("redis.url and redis.prefix cannot change while the host runs: restart it to apply them")
        }
        if old.postgres.enabled != new.postgres.enabled || old.postgres.url != new.postgres.url
            || old.postgres.schema != new.postgres.schema
        {
            fixed.append("the postgres section cannot change while the host runs: restart it to apply it")
        }
        if old.admin.host != new.admin.host || old.admin.port != new.admin.port || old.admin.token != new.admin.token {
            fixed.append("the admin section (address, token) cannot change while the host runs: restart it to apply it")
        }
        guard fixed.isEmpty else { return refuse(fixed) }
        let removedClients = old.downloadClients.filter { client in !new.downloadClients.contains { $0.plugin == client.plugin } }
        // A client that still takes new downloads could be given one between
        // the count below and the switch: it is drained first, by a reload of its own.
        let stillTaking = removedClients.filter(\.acceptsNew).map { client in
            "download client '\(client.plugin)' still takes new downloads: set accept_new: false for it and reload, "
                + "then remove it once it is idle"
        }
        guard stillTaking.isEmpty else { return refuse(stillTaking) }
        if !removedClients.isEmpty, let router = Self.downloadPlugins(old, instances: plugins)?.router as? DownloadRouter {
            do {
                let inFlight = try await DownloadsInFlight.count(in: queues, jobTypes: old.downloadJobTypes, router: router)
                let problems = inFlight.problems(removing: old.downloadClients, keeping: new.downloadClients)
                guard problems.isEmpty else { return refuse(problems) }
            } catch {
                return refuse(["the downloads in flight could not be counted (\(error)); a client is removed only once it is idle: reload again when Redis answers"])
            }
        }

        let running = plugins
        let executor = RuntimeGeneration.makeExecutor()
        let started: (instances: [String: PluginInstance], started: [String])
        do {
            started = try await startPlugins(validated, reusing: running, on: executor)
        } catch {
            await executor.shutdown()
            return refuse(["\(error)"])
        }
        let generation = makeGeneration(new, instances: started.instances, executor: executor)
        guard install(generation) else {
            for name in started.started { await started.instances[name]?.shutdown() }
            await executor.shutdown()
            return refuse(["the host is stopping"])
        }
        let kept = Set(started.instances.values.map(ObjectIdentifier.init))
        let oldJobs = Dictionary(uniqueKeysWithValues: old.jobs.map { ($0.name, $0) })
        let newJobs = Dictionary(uniqueKeysWithValues: new.jobs.map { ($0.name, $0) })
        let summary = ReloadSummary(
            pluginsStarted: started.started.sorted(),
            pluginsKept: started.instances.filter { running[$0.key] === $0.value }.keys.sorted(),
            pluginsRetired: running.filter { !kept.contains(ObjectIdentifier($0.value)) }.keys.sorted(),
            jobTypesAdded: newJobs.keys.filter { oldJobs[$0] == nil }.sorted(),
            jobTypesRemoved: oldJobs.keys.filter { newJobs[$0] == nil }.sorted(),
            jobTypesChanged: newJobs.compactMap { name, job in
                guard let before = oldJobs[name] else { return nil }
                let oldMembers = old.routedLists.first { $0.name == before.plugin }?.members
                let newMembers = new.routedLists.first { $0.name == job.plugin }?.members
                let clientsChanged = job.plugin == DownloadClientRoute.listName && old.downloadClients != new.downloadClients
                let routedChanged =
                    (oldMembers != nil || newMembers != nil)
                    && (oldMembers != newMembers || clientsChanged
                        || (newMembers ?? []).contains { started.instances[$0] !== running[$0] })
                let pluginChanged = started.instances[job.plugin] !== running[before.plugin] || routedChanged
                return pluginChanged || Self.settingsText(before) != Self.settingsText(job) ? name : nil
            }.sorted())
        if let scheduler {
            do {
                try await scheduler.synchronize()
            } catch {
                logger.warning("reloaded, but the schedules could not be written yet; the scheduler writes them when PostgreSQL answers", metadata: ["error": "\(error)"])
            }
        }
        logger.notice(
            "configuration reloaded",
            metadata: [
                "plugins_started": "\(summary.pluginsStarted)", "plugins_retired": "\(summary.pluginsRetired)",
                "job_types_changed": "\(summary.jobTypesChanged)", "job_types_added": "\(summary.jobTypesAdded)",
                "job_types_removed": "\(summary.jobTypesRemoved)",
            ])
        return .applied(summary)
    }

    /// A job type's settings, without where they are written in the file.
    private static func settingsText(_ job: JobTypeConfiguration) -> String {
        var job = job
        job.location = SourceLocation(line: 0, column: 0)
        job.pluginLocation = job.location
        return "\(job)"
    }

    private func refuse(_ problems: [String]) -> ReloadOutcome {
        logger.error("reload refused; the running configuration stays", metadata: ["problems": "\(problems.joined(separator: "; "))"])
        return .refused(problems)
    }
}
