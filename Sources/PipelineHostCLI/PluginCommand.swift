import ArgumentParser
import Foundation
import Logging
import PipelineHost

/// `pipeline-host plugin …`: tools for one plugin file.
struct PluginCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugin",
        abstract: "Inspect or try out one plugin file.",
        subcommands: [InspectCommand.self, RunCommand.self, ConformanceCommand.self])
}

/// `pipeline-host plugin inspect PATH`: loads one plugin alone and prints its
/// descriptor, or why it was refused.
struct InspectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Load one plugin file and print its descriptor, or the reason it is refused.")

    @Argument(help: "The plugin's .so file.")
    var path: String

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    @Option(name: .long, help: "Load it as the host would: process (in a runner, the default) or none (in this process).")
    var isolation = "process"

    func run() async throws {
        guard ["process", "none"].contains(isolation) else {
            throw ValidationError("--isolation: '\(isolation)' is not process or none")
        }
        do {
            let plugin = try PluginLoader.load(path: path, isolation: isolation == "none" ? .inProcess : .process)
            print(json ? try PluginInspection.json(plugin) : PluginInspection.text(plugin))
        } catch let error as PluginLoadError {
            if json {
                print(try PluginInspection.json(error))
            } else {
                printError(error.description)
            }
            throw ExitCode.failure
        }
    }
}

/// `pipeline-host plugin run PATH TYPE`: runs one job through one plugin,
/// without a queue, and prints the outcome: for plugin authors.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run one job through one plugin, without a queue, and print the outcome as JSON.",
        discussion: """
            For plugin authors: loads the file like the host does, starts it with --plugin-config, runs one job \
            and prints what it reported. Request transitions are checked and shown, not applied. There is no \
            queue: `enqueue` answers PP_ERR_UNSUPPORTED. Exits 0 when the job is done or rescheduled, 1 when it \
            fails or asks for a retry.
            """)

    @Argument(help: "The plugin's .so file.")
    var path: String

    @Argument(help: "The job type to run.")
    var jobType: String

    @Option(name: .long, help: "The job's payload, a JSON object.")
    var payload = "{}"

    @Option(name: .long, help: "The plugin's config, a JSON object.")
    var pluginConfig = "{}"

    @Option(name: .long, help: "How long the job may run (as in pipeline.yaml: 30s, 5m).")
    var timeout = "60s"

    @Option(name: .long, help: "The attempt number to report to the plugin.")
    var attempt = 1

    @Option(name: .long, help: "The attempts allowed in all.")
    var maxAttempts = 3

    @Option(name: .long, help: "Run it as the host would: process (in a runner, the default) or none (in this process).")
    var isolation = "process"

    @OptionGroup var logOptions: LogOptions

    func run() async throws {
        let logger = logOptions.makeLogger("pipeline-host.plugin", default: .info)
        guard case .success(let limit) = DurationSyntax.parse(timeout) else {
            throw ValidationError("--timeout: \(timeout) is not a duration such as 30s or 5m")
        }
        guard (1...1000).contains(maxAttempts), (1...maxAttempts).contains(attempt) else {
            throw ValidationError("--attempt and --max-attempts: need 1 ≤ attempt ≤ max-attempts ≤ 1000, got \(attempt) of \(maxAttempts)")
        }
        guard ["process", "none"].contains(isolation) else {
            throw ValidationError("--isolation: '\(isolation)' is not process or none")
        }
        let plugin: LoadedPlugin
        do {
            plugin = try PluginLoader.load(path: path, isolation: isolation == "none" ? .inProcess : .process)
        } catch {
            printError(error.description)
            throw ExitCode.failure
        }
        guard plugin.info.jobTypes.contains(jobType) else {
            printError("plugin \(path) does not handle '\(jobType)'; it handles: \(plugin.info.jobTypes.joined(separator: ", "))")
            throw ExitCode.failure
        }
        // Plugin code (init included) runs on a worker thread, never on Swift's cooperative pool.
        let executor = BlockingExecutor(threads: 2)
        let config = pluginConfig
        let started = await executor.run {
            Result { () throws(PluginLoadError) in
                try plugin.start(name: "cli", configJSON: config, configSource: "--plugin-config", logger: logger)
            }
        }
        guard case .success(let instance)? = started else {
            if case .failure(let error)? = started { printError(error.description) }
            throw ExitCode.failure
        }
        let job = PluginJob(
            id: "cli-\(UUID().uuidString.prefix(8).lowercased())", type: jobType, attempt: attempt,
            maxAttempts: maxAttempts, payloadJSON: payload)
        let outcome = await instance.execute(
            job, on: executor, timeout: limit,
            // No queue here: enqueue answers PP_ERR_UNSUPPORTED, as the header says.
            effects: PluginEffectPolicy(enqueue: .unsupported, offersRequestTransitions: true))
        await instance.shutdown()
        await executor.shutdown()
        print(try PluginInspection.json(outcome))
        if outcome.kind == .fail || outcome.kind == .retry { throw ExitCode.failure }
    }
}

/// `pipeline-host plugin test PATH --kind … --config JSON`: the driver
/// conformance suite, against a live service.
struct ConformanceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Run the driver conformance checks against a live service.",
        discussion: """
            For driver authors: loads the file in this process, starts it with --config and checks its interface \
            as the host's jobs use it. A download client must add a .torrent and a magnet the suite makes, twice \
            each with the same id; answer the status of a known download and null for an unknown one; remove with \
            and without data; give PP_DRIVER_PERMANENT for a wrong password and PP_DRIVER_TRANSIENT when the \
            client does not answer. A library backend must answer pages of books, an empty page past the end and \
            a scan request, with the same two error kinds. The wrong password (or token) and the stopped service \
            are made from --config (its "password" or "token" replaced; its "url" pointed at a closed loopback \
            port) unless given. Exits 0 when every check passes.
            """)

    @Argument(help: "The driver's .so file.")
    var path: String

    @Option(name: .long, help: "download-client or library-backend.")
    var kind: String

    @Option(name: .long, help: "The driver's config, a JSON object, as in pipeline.yaml.")
    var config: String

    @Option(name: .long, help: "A config with wrong credentials (default: --config with a wrong password or token).")
    var wrongCredentialsConfig: String?

    @Option(name: .long, help: "A config for a service that is not running (default: --config with url at a closed port).")
    var stoppedConfig: String?

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    @OptionGroup var logOptions: LogOptions

    func run() async throws {
        guard let kind = DriverConformance.Kind(rawValue: kind) else {
            throw ValidationError("--kind: '\(kind)' is not download-client or library-backend")
        }
        let logger = logOptions.makeLogger("pipeline-host.plugin", default: .warning)
        let plugin: LoadedPlugin
        do {
            plugin = try PluginLoader.load(path: path, isolation: .inProcess)
        } catch {
            printError(error.description)
            throw ExitCode.failure
        }
        let checks = await DriverConformance.run(
            plugin: plugin, kind: kind,
            configs: DriverConformance.Configs(working: config, wrongCredentials: wrongCredentialsConfig, stopped: stoppedConfig),
            logger: logger)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(checks), as: UTF8.self))
        } else {
            for check in checks {
                print("\(check.passed ? "pass" : "FAIL")  \(check.name): \(check.detail)")
            }
            let failed = checks.filter { !$0.passed }.count
            print(failed == 0 ? "\(checks.count) checks passed" : "\(failed) of \(checks.count) checks failed")
        }
        if checks.contains(where: { !$0.passed }) { throw ExitCode.failure }
    }
}
