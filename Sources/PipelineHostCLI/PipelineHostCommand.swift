import ArgumentParser
import Foundation
import Logging
import PipelineHost

/// `pipeline-host`: the background-job engine of the audiobook pipeline.
@main
struct PipelineHostCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline-host",
        abstract: "The background-job engine of the audiobook acquisition pipeline.",
        discussion: """
            Reads pipeline.yaml (--config, $PIPELINE_CONFIG or ./pipeline.yaml) and runs the job types it \
            defines through processor plugins loaded from shared libraries. See README.md.
            """,
        version: "0.1.0",
        subcommands: [
            HostRunCommand.self, ValidateCommand.self, EnqueueCommand.self, JobCommand.self, MigrateCommand.self, PluginCommand.self,
            PluginRunnerCommand.self,
        ])
}

/// Options every command that reads pipeline.yaml shares.
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: "The pipeline file (default: $PIPELINE_CONFIG, then ./pipeline.yaml).")
    var config: String?

    /// The file to read, by the rule above.
    var path: String {
        if let config { return config }
        if let fromEnvironment = ProcessInfo.processInfo.environment["PIPELINE_CONFIG"], !fromEnvironment.isEmpty {
            return fromEnvironment
        }
        return "pipeline.yaml"
    }
}

/// Logging setup shared by the commands.
struct LogOptions: ParsableArguments {
    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level?

    @Option(
        name: .long,
        help: "Log format: text (lines with a time), json (one object per line) or journal (plain lines); by default journal when standard error is the journal (JOURNAL_STREAM), text otherwise.")
    var logFormat: LogFormat?

    func makeLogger(_ label: String, default level: Logger.Level) -> Logger {
        let environment = ProcessInfo.processInfo.environment
        let chosen = logLevel ?? environment["PIPELINE_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) } ?? level
        let format = LogFormat.resolve(logFormat ?? environment["PIPELINE_LOG_FORMAT"].flatMap(LogFormat.init(rawValue:)))
        // The plugins' runner processes inherit it: one format in one stream.
        setenv("PIPELINE_LOG_FORMAT", format.rawValue, 1)
        LoggingSystem.bootstrap { label in format.handler(label: label, level: chosen) }
        return Logger(label: label)
    }
}

extension LogFormat: ExpressibleByArgument {}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// Writes `text` and a newline to standard error.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
