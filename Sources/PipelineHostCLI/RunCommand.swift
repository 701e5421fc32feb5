import ArgumentParser
import Dispatch
import Foundation
import Logging
import PipelineHost
import Hummingbird
import ServiceLifecycle

/// `pipeline-host run`: the host itself.
struct HostRunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the host: take and run the jobs of every job type in pipeline.yaml.",
        discussion: """
            Validates pipeline.yaml and its plugins, starts the plugins, and runs up to each job type's \
            concurrency of jobs at once. SIGTERM or SIGINT stops it gracefully: no new jobs; running ones may \
            finish within queue.shutdown_grace; the rest go back to the queue for another host at once. SIGHUP \
            (or POST /api/admin/reload) reads pipeline.yaml again and puts it in force without a restart; a \
            file with problems is refused and the running configuration stays (docs/reload.md).
            """)

    @OptionGroup var configOptions: ConfigOptions
    @OptionGroup var logOptions: LogOptions

    @Option(name: .long, help: "This host's id in lock tokens and logs (default: hostname-pid-random).")
    var hostID: String?

    func run() async throws {
        let logger = logOptions.makeLogger("pipeline-host", default: .info)
        let validated = try await validatedPipeline(configOptions.path, logger: logger)
        let runtime = try await PipelineRuntime.start(
            validated, hostID: hostID ?? PipelineRuntime.defaultHostID(), logger: logger,
            reloadSource: ReloadSource(file: configOptions.path))
        // SIGHUP reads pipeline.yaml again; a broken file is refused and the running configuration stays.
        signal(SIGHUP, SIG_IGN)
        let hangups = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        hangups.setEventHandler {
            Task {
                logger.notice("SIGHUP: reading pipeline.yaml again", metadata: ["file": "\(configOptions.path)"])
                _ = await runtime.reload()
            }
        }
        hangups.resume()
        defer { hangups.cancel() }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: runtime)]
        let admin = validated.configuration.admin
        let adminListening = admin.token.isEmpty ? nil : ReadinessFlag()
        if admin.token.isEmpty {
            logger.notice("admin API off: admin.token is empty (set PIPELINE_ADMIN_TOKEN)")
        } else {
            for warning in AdminAPI.startWarnings(admin) { logger.warning("\(warning)") }
            let app = AdminAPI(runtime: runtime, token: admin.token).application(
                host: admin.host, port: admin.port, logger: logger,
                onListening: { port in
                    logger.info("admin API listening", metadata: ["address": "\(admin.host):\(port)"])
                    adminListening?.raise()
                })
            services.append(.init(service: app))
        }
        // Under systemd (Type=notify): READY=1, the watchdog, STOPPING=1.
        // Last in the group, so that a graceful shutdown reaches it first.
        let notifier = SystemdNotifier()
        if notifier.isActive {
            services.append(.init(service: SystemdNotifyService(notifier: notifier, runtime: runtime, adminListening: adminListening)))
        }
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

/// Validates `path` on a worker thread (plugin init runs there), printing
/// every problem and exiting 1 if there is one.
func validatedPipeline(_ path: String, startsPlugins: Bool = false, logger: Logger) async throws -> PipelineValidator.Result {
    let validator = PipelineValidator(startsPlugins: startsPlugins, logger: logger)
    let executor = BlockingExecutor(threads: 1)
    defer { Task { await executor.shutdown() } }
    let validation = await executor.run { Result { () throws(DiagnosticsError) in try validator.validate(file: path) } }
    switch validation {
    case .success(let result)?:
        return result
    case .failure(let error)?:
        printError(error.description)
        printError("\(error.diagnostics.count) problem(s) found in \(path)")
        throw ExitCode.failure
    case nil:
        throw ExitCode.failure
    }
}
