import Foundation
import Logging
import PipelineHost

/// A pipeline for queue tests: the C echo fixture as plugin `probe`, one job
/// type `work` (and any more given), on a private Redis and key prefix.
struct QueueTestPipeline {
    let directory: TemporaryDirectory
    let file: String
    let prefix: String

    let redisURL: String
    let postgres: (url: String, schema: String)?

    /// - Parameter isolation: the probe's `isolation` (`process`, the default, or `none`).
    init(
        redis: RedisServer, jobs: String = "work: {plugin: probe}", queue: String = "", postgres: (url: String, schema: String)? = nil,
        plugin: String = "libFixtureCEcho.so", isolation: String = "process"
    ) throws {
        directory = try TemporaryDirectory()
        prefix = "t\(UUID().uuidString.prefix(8).lowercased())"
        redisURL = redis.url
        self.postgres = postgres
        file = directory.path + "/pipeline.yaml"
        self.isolation = isolation
        try write(jobs: jobs, queue: queue, plugin: plugin)
    }

    let isolation: String

    /// Writes pipeline.yaml (again): what a reload then reads.
    func write(jobs: String, queue: String = "", plugin: String = "libFixtureCEcho.so", prefix: String? = nil) throws {
        _ = try directory.write(
            "pipeline.yaml",
            """
            redis: {url: "\(redisURL)", prefix: \(prefix ?? self.prefix)}
            postgres: \(postgres.map { "{url: \"\($0.url)\", schema: \($0.schema)}" } ?? "{enabled: false}")
            queue: {drain_delay: 1s\(queue.isEmpty ? "" : ", " + queue)}
            plugins:
              probe: {path: \(plugin), isolation: \(isolation)}
            jobs:
              \(jobs)
            """)
    }

    var loader: ConfigurationLoader { ConfigurationLoader(environment: [:], defaultPluginDirectory: ProductsDirectory.path) }

    func validated() async throws -> PipelineValidator.Result {
        try await PipelineValidator(loader: loader, startsPlugins: false, logger: .silent).validated(file: file)
    }

    /// A runtime in this process; ``PipelineRuntime/reload()`` reads this pipeline.yaml again.
    func runtime(hostID: String = "test-host") async throws -> PipelineRuntime {
        try await PipelineRuntime.start(
            try await validated(), hostID: hostID, logger: .testLogger, reloadSource: ReloadSource(file: file, loader: loader))
    }

    /// A queue client for setting up and reading jobs.
    func queue(_ name: String = "work", client: RedisClient) -> JobQueue {
        JobQueue(name: name, prefix: prefix, client: client)
    }
}

/// A RedisClient for a test.
func testClient(_ redis: RedisServer) throws -> RedisClient {
    RedisClient(url: try RedisURL(parsing: redis.url), executor: BlockingExecutor(threads: 4), logger: .silent)
}

/// `pipeline-host run` as a separate process, for the drills that kill or stop it.
final class HostProcess: @unchecked Sendable {
    let child: ChildProcess
    let log: String

    /// - Parameters:
    ///   - environment: set over the test process's own.
    ///   - arguments: more arguments for `run`.
    init(
        config: String, hostID: String, directory: TemporaryDirectory, environment extra: [String: String] = [:],
        arguments: [String] = []
    ) throws {
        log = directory.path + "/\(hostID).log"
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "PIPELINE_PLUGIN_DIR")
        environment.merge(extra) { _, new in new }
        child = try ChildProcess(
            ProductsDirectory.path + "/pipeline-host",
            ["run", "--config", config, "--host-id", hostID, "--log-level", "info"] + arguments, environment: environment,
            logFile: log)
    }

    func kill() { child.kill() }

    func terminate() { child.signal(SIGTERM) }

    /// Waits for the host to exit and returns its exit code (nil if killed).
    func exitCode() async throws -> Int32? {
        try await child.waitForExit()
        return child.exitCode
    }

    var output: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
}
