import ArgumentParser
import Foundation
import Logging
import PipelineHost

/// `pipeline-host enqueue TYPE`: adds one job.
struct EnqueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enqueue",
        abstract: "Add a job of a job type and print its id.",
        discussion: "The job gets its job type's settings from pipeline.yaml; the options override them.")

    @OptionGroup var configOptions: ConfigOptions

    @Argument(help: "The job type.")
    var jobType: String

    @Option(name: .long, help: "The job's payload, a JSON object.")
    var payload = "{}"

    @Option(name: .long, help: "high, medium, low, none, or a number (lower is more urgent).")
    var priority: String?

    @Option(name: .long, help: "Wait this long before the job may run (500ms, 2s, 5m).")
    var delay: String?

    @Option(name: .long, help: "A custom job id (not all digits, no ':'); adding it twice adds one job.")
    var jobID: String?

    func run() async throws {
        let configuration = try loadConfiguration(configOptions.path)
        guard let settings = configuration.job(named: jobType) else {
            throw ValidationError("no job type '\(jobType)' in \(configuration.file); it has: \(configuration.jobs.map(\.name).joined(separator: ", "))")
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(payload.utf8)), object is [String: Any] else {
            throw ValidationError("--payload must be a JSON object, such as '{\"requestId\":\"r1\"}'")
        }
        var options = JobOptions(for: settings)
        if let priority {
            guard let value = JobPriority.parse(priority) else {
                throw ValidationError("--priority: '\(priority)' is not high, medium, low, none or a number from 0 to \(JobPriority.maximum)")
            }
            options.priority = value.value
        }
        if let delay {
            guard case .success(let value) = DurationSyntax.parse(delay) else {
                throw ValidationError("--delay: '\(delay)' is not a duration such as 500ms, 2s or 5m")
            }
            options.delay = value
        }
        options.jobID = jobID
        let client = try makeClient(configuration)
        let queue = JobQueue(name: jobType, prefix: configuration.redis.prefix, client: client)
        do {
            print(try await queue.add(dataJSON: payload, options: options))
        } catch {
            printError("enqueue failed: \(error)")
            throw ExitCode.failure
        }
    }
}

/// `pipeline-host job TYPE ID`: one job's state.
struct JobCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "job", abstract: "Show a job: state, attempts, times, result or failure.")

    @OptionGroup var configOptions: ConfigOptions

    @Argument(help: "The job type.")
    var jobType: String

    @Argument(help: "The job id.")
    var id: String

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func run() async throws {
        let configuration = try loadConfiguration(configOptions.path)
        let queue = JobQueue(name: jobType, prefix: configuration.redis.prefix, client: try makeClient(configuration))
        let snapshot: JobSnapshot?
        do {
            snapshot = try await queue.job(id)
        } catch {
            printError("cannot read the job: \(error)")
            throw ExitCode.failure
        }
        guard let snapshot else {
            printError("no job \(id) in job type \(jobType)")
            throw ExitCode.failure
        }
        print(json ? try JobPresentation.json(snapshot) : JobPresentation.text(snapshot))
    }
}

func loadConfiguration(_ path: String) throws -> PipelineConfiguration {
    do {
        return try ConfigurationLoader().load(file: path)
    } catch {
        printError(error.description)
        throw ExitCode.failure
    }
}

func makeClient(_ configuration: PipelineConfiguration) throws -> RedisClient {
    let url: RedisURL
    do {
        url = try RedisURL(parsing: configuration.redis.url)
    } catch {
        throw ValidationError(error.description)
    }
    let logger = Logger(label: "pipeline-host")
    return RedisClient(url: url, executor: BlockingExecutor(threads: 2), logger: logger)
}
