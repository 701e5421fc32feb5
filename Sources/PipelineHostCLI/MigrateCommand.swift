import ArgumentParser
import Logging
import PipelineHost

/// `pipeline-host migrate`: brings the history schema up to date.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Create or update the PostgreSQL history schema (postgres.url, postgres.schema).",
        discussion: "Each migration runs once, in its own transaction; running it again does nothing.")

    @OptionGroup var configOptions: ConfigOptions

    func run() async throws {
        let configuration = try loadConfiguration(configOptions.path)
        let client: PostgresClient
        do {
            client = try PostgresClient(
                url: configuration.postgres.url, schema: configuration.postgres.schema,
                executor: BlockingExecutor(threads: 1), logger: Logger(label: "pipeline-host"))
            let applied = try await Migrations.run(on: client)
            print(applied.isEmpty
                ? "schema \(client.schema) is up to date (version \(Migrations.all.last!.version))"
                : "schema \(client.schema): applied migration(s) \(applied.map(String.init).joined(separator: ", "))")
        } catch {
            printError("migrate failed: \(error)")
            throw ExitCode.failure
        }
    }
}
