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
        let validator = PipelineValidator(startsPlugins: !noStart && !probe, logger: logger)
        let result: PipelineValidator.Result
        do {
            result = try validator.validate(file: configOptions.path)
        } catch {
            printError(error.description)
            printError("\(error.diagnostics.count) problem(s) found in \(configOptions.path)")
            throw ExitCode.failure
        }
        print(ValidationSummary.render(result))
        if probe {
            try await runProbes(result, logger: logger)
        }
    }

    private func runProbes(_ result: PipelineValidator.Result, logger: Logger) async throws {
        let executor = BlockingExecutor(threads: 2)
        defer { Task { await executor.shutdown() } }
        var failed = false
        print("")
        for (name, plugin) in result.plugins.members {
            let entry = result.configuration.plugin(named: name)!
            let instance = try plugin.start(name: name, configJSON: entry.configJSON, logger: logger)
            defer { instance.shutdown() }
            switch await instance.check(on: executor) {
            case nil: print("probe \(name): no check offered")
            case .passed: print("probe \(name): ok")
            case .failed(let reason):
                failed = true
                print("probe \(name): FAILED: \(reason)")
            }
        }
        if failed { throw ExitCode.failure }
    }
}
