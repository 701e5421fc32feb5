import ArgumentParser
import Logging
import PipelineHost

/// `pipeline-host validate`: checks pipeline.yaml and the plugins it names.
struct ValidateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check pipeline.yaml and its plugins, and print the job types.",
        discussion: """
            Parses the file, loads every plugin it names and checks it against the plugin ABI, starts each \
            plugin with its config (and stops it again), and checks each job type against its plugin. Prints a \
            table of job types on success; otherwise prints every problem as FILE:LINE:COLUMN: message and \
            exits 1.
            """)

    @OptionGroup var configOptions: ConfigOptions
    @OptionGroup var logOptions: LogOptions

    @Flag(name: .long, help: "Do not start the plugins (skips checking their config).")
    var noStart = false

    @Flag(name: .long, help: "Also run each plugin's check: can it reach its service with its config?")
    var probe = false

    func run() async throws {
        let logger = logOptions.makeLogger("pipeline-host.validate", default: .warning)
        let result = try await validatedPipeline(configOptions.path, startsPlugins: !noStart && !probe, logger: logger)
        print(ValidationSummary.render(result))
        if probe {
            try await runProbes(result, executor: BlockingExecutor(threads: 2), logger: logger)
        }
    }

    private func runProbes(_ result: PipelineValidator.Result, executor: BlockingExecutor, logger: Logger) async throws {
        var failed = false
        print("")
        for (name, plugin) in result.plugins.members {
            let entry = result.configuration.plugin(named: name)!
            let started = await executor.run {
                Result { () throws(PluginLoadError) in try plugin.start(name: name, configJSON: entry.configJSON, logger: logger) }
            }
            guard case .success(let instance)? = started else {
                if case .failure(let error)? = started { print("probe \(name): FAILED: \(error)") }
                failed = true
                continue
            }
            let runner = instance.isolationStatus
            let mode =
                runner.mode == "process"
                ? " (isolation process: runner pid \(runner.pid.map(String.init) ?? "-"), restarts \(runner.restarts)"
                    + (runner.lastCrash.map { ", last crash \($0)" } ?? "") + ")" : " (isolation none)"
            switch await instance.check(on: executor) {
            case nil: print("probe \(name): no check offered\(mode)")
            case .passed: print("probe \(name): ok\(mode)")
            case .failed(let reason):
                failed = true
                print("probe \(name): FAILED: \(reason)\(mode)")
            }
            await instance.shutdown()
        }
        if failed { throw ExitCode.failure }
    }
}
