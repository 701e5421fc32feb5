/// What `pipeline-host validate` prints for a valid pipeline: the job types
/// and how they run, the download clients in priority order (when listed),
/// then the plugins that run them.
public enum ValidationSummary {
    public static func render(_ result: PipelineValidator.Result) -> String {
        let configuration = result.configuration
        var jobs = TextTable(header: ["JOB TYPE", "PLUGIN", "CONCURRENCY", "PRIORITY", "RETRY", "TIMEOUT", "SCHEDULE"])
        for job in configuration.jobs {
            let retry = job.attempts == 1 ? "no retry" : "\(job.attempts) attempts, \(job.backoff.summary)"
            jobs.append([
                job.name, job.plugin, job.concurrency == 0 ? "0 (paused)" : "\(job.concurrency)", job.priority.description, retry,
                DurationSyntax.format(job.timeout), job.schedule?.summary ?? "-",
            ])
        }
        var plugins = TextTable(header: ["PLUGIN", "ID", "VERSION", "ABI", "ISOLATION", "JOB TYPES", "FILE"])
        for (name, plugin) in result.plugins.members {
            var isolation = plugin.isolation.name
            if let limit = plugin.isolation.maxMemory { isolation += ", max \(ByteSize.describe(limit))" }
            plugins.append([
                name, plugin.info.id, plugin.info.version, "\(plugin.info.abiMajor).\(plugin.info.abiMinor)", isolation,
                plugin.info.jobTypes.joined(separator: ","), plugin.path,
            ])
        }
        var clients = TextTable(header: ["DOWNLOAD CLIENT", "PROTOCOLS", "NEW DOWNLOADS"])
        for client in configuration.downloadClients {
            clients.append([
                client.plugin, client.protocols.map(\.rawValue).joined(separator: ","),
                client.acceptsNew ? "accepted" : "refused (finishing its own)",
            ])
        }
        var clientSection = configuration.downloadClients.isEmpty ? "" : "\n\n" + clients.render()
        if !configuration.libraryBackends.isEmpty {
            clientSection += "\n\nLIBRARY BACKENDS (each runs every library job): "
                + configuration.libraryBackends.map(\.plugin).joined(separator: ", ")
        }
        return """
            \(configuration.file): OK, \(configuration.jobs.count) job types, \(configuration.plugins.count) plugins

            \(jobs.render())\(clientSection)

            \(plugins.render())
            """
    }
}
