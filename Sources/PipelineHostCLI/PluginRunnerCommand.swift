import ArgumentParser
import Foundation
import Logging
import PipelineHost

/// `pipeline-host plugin-runner`: the process a plugin with isolation
/// `process` runs in. The host starts it (docs/plugin-isolation.md); it is
/// not for people to run.
struct PluginRunnerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugin-runner", abstract: "Run one plugin for a host (started by the host).", shouldDisplay: false)

    @Option(name: .long, help: "The plugin file.")
    var plugin: String

    @Option(name: .long, help: "The plugin's entry name in pipeline.yaml.")
    var name: String

    @Option(name: .long, help: "The host's pid: the runner stops if its parent is another.")
    var hostPID: Int32

    @Flag(name: .long, help: "Run suspect jobs, one at a time.")
    var quarantine = false

    @OptionGroup var logOptions: LogOptions

    func run() throws {
        var logger = logOptions.makeLogger("pipeline-host", default: .info)
        logger[metadataKey: "plugin"] = "\(name)"
        logger[metadataKey: "runner"] = "\(getpid())\(quarantine ? " quarantine" : "")"
        throw ExitCode(PluginRunnerMain.run(plugin: plugin, name: name, hostPID: hostPID, logger: logger))
    }
}
