import Foundation
import Glibc
import PipelineHost
import Testing

/// Reading pipeline.yaml again in a running host (``PipelineRuntime/reload()``,
/// what SIGHUP and `POST /api/admin/reload` do), against a real Redis.
@Suite struct ReloadTests {
    static let slowJob = #"{"mode":"probe","sleep_ms":1500}"#

    @Test func concurrencyPriorityRetryAndScheduleChangesApplyAtOnce() async throws {
        let redis = try RedisServer()
        let postgresServer = try await PostgresServer.start()
        let schema = "t_\(UUID().uuidString.prefix(8).lowercased())"
        let pipeline = try QueueTestPipeline(
            redis: redis, jobs: "work: {plugin: probe, concurrency: 1, schedule: {every: 1h}}", postgres: (postgresServer.url, schema))
        let postgres = try postgresServer.client(schema: schema)
        let runtime = try await pipeline.runtime()
        let running = Task { try await runtime.run() }
        let queue = pipeline.queue(client: try testClient(redis))
        _ = try await queue.addBulk((0..<12).map { _ in (nil, Self.slowJob, JobOptions()) })
        try await eventually("one at a time") { runtime.runningJobs["work"] == 1 }
        try await eventually("schedule written") {
            (try? await postgres.query("SELECT expression FROM scheduled_jobs WHERE name = 'work'").rows) == [["1h"]]
        }

        try pipeline.write(jobs: "work: {plugin: probe, concurrency: 3, priority: high, attempts: 5, schedule: {every: 2h}}")
        let outcome = await runtime.reload()
        guard case .applied(let summary) = outcome else { throw TestFailure("reload refused: \(outcome)") }
        #expect(summary.jobTypesChanged == ["work"] && summary.pluginsKept == ["probe"] && summary.pluginsStarted.isEmpty)
        // The new worker takes three at once while the old one finishes its job.
        try await eventually("three at a time") { runtime.runningJobs["work"] == 3 }
        let added = try await runtime.enqueue("work", payloadJSON: #"{"mode":"probe"}"#)
        let options = try #require(try await queue.job(added)).options
        #expect(options.attempts == 5 && options.priority == 1, "new jobs take the new retry and priority settings")
        try await eventually("schedule rewritten") {
            (try? await postgres.query("SELECT expression FROM scheduled_jobs WHERE name = 'work'").rows) == [["2h"]]
        }
        try await eventually("all done", timeout: .seconds(30)) { (try await queue.counts()[.completed] ?? 0) == 13 }
        runtime.beginStop()
        try await running.value
    }

    @Test func aBrokenFileIsRefusedWithWhereItIsWrongAndTheRunningConfigurationStays() async throws {
        let redis = try RedisServer()
        let pipeline = try QueueTestPipeline(redis: redis, jobs: "work: {plugin: probe, concurrency: 2}")
        let runtime = try await pipeline.runtime()
        let running = Task { try await runtime.run() }
        let queue = pipeline.queue(client: try testClient(redis))

        try pipeline.write(jobs: "work: {plugin: nowhere, concurrency: 9}")
        guard case .refused(let problems) = await runtime.reload() else { throw TestFailure("a broken file was applied") }
        #expect(problems.contains { $0.contains("pipeline.yaml:") && $0.contains("nowhere") }, "\(problems)")
        try "jobs: [unclosed".write(toFile: pipeline.file, atomically: true, encoding: .utf8)
        guard case .refused(let syntax) = await runtime.reload() else { throw TestFailure("bad YAML was applied") }
        #expect(syntax.contains { $0.contains("pipeline.yaml:") }, "\(syntax)")
        try pipeline.write(jobs: "work: {plugin: probe}", prefix: "elsewhere")
        guard case .refused(let restart) = await runtime.reload() else { throw TestFailure("a new Redis prefix was applied") }
        #expect(restart == ["redis.url and redis.prefix cannot change while the host runs: restart it to apply them"])

        #expect(runtime.configuration.job(named: "work")?.concurrency == 2, "the running configuration stays")
        let id = try await runtime.enqueue("work", payloadJSON: #"{"mode":"probe"}"#)
        try await eventually("the job runs") { try await queue.job(id)?.state == .completed }
        runtime.beginStop()
        try await running.value
    }

    /// A new build in a runner: a new runner starts beside the old one, which
    /// finishes its job and exits; no copy of the file is needed.
    @Test func aNewBuildAtTheSamePathStartsANewRunnerAndTheOldOneDrainsAndExits() async throws {
        let redis = try RedisServer()
        let directory = try TemporaryDirectory()
        let plugin = directory.path + "/libProbe.so"
        try FileManager.default.copyItem(atPath: ProductsDirectory.plugin("FixtureCEcho"), toPath: plugin)
        let pipeline = try QueueTestPipeline(redis: redis, jobs: "work: {plugin: probe, concurrency: 1}", plugin: plugin)
        let runtime = try await pipeline.runtime()
        let running = Task { try await runtime.run() }
        let queue = pipeline.queue(client: try testClient(redis))
        let old = try #require(runtime.plugins["probe"])
        let oldRunner = try #require(old.isolationStatus.pid)
        let inFlight = try await runtime.enqueue("work", payloadJSON: Self.slowJob)
        try await eventually("the job runs") { try await queue.job(inFlight)?.state == .active }

        var build = try Data(contentsOf: URL(fileURLWithPath: plugin))
        build.append(0)
        try FileManager.default.removeItem(atPath: plugin)
        try build.write(to: URL(fileURLWithPath: plugin))
        guard case .applied(let summary) = await runtime.reload() else { throw TestFailure("reload refused") }
        #expect(summary.pluginsStarted == ["probe"] && summary.pluginsRetired == ["probe"])
        let new = try #require(runtime.plugins["probe"])
        let newRunner = try #require(new.isolationStatus.pid)
        #expect(newRunner != oldRunner && new.plugin.imagePath == plugin, "a runner of its own, from the file itself")
        #expect(kill(oldRunner, 0) == 0, "the old runner still runs its job")

        try await eventually("the old build finished its job") { try await queue.job(inFlight)?.state == .completed }
        let finished = try #require(try await queue.job(inFlight)?.returnValue)
        #expect(finished.contains("\"pid\":\(oldRunner)"), "it ran in the old runner: \(finished)")
        try await eventually("the old runner exits once drained") { kill(oldRunner, 0) != 0 }
        let next = try await runtime.enqueue("work", payloadJSON: #"{"mode":"probe"}"#)
        try await eventually("the new build runs the next") { try await queue.job(next)?.state == .completed }
        #expect(try await queue.job(next)?.returnValue?.contains("\"pid\":\(newRunner)") == true)
        runtime.beginStop()
        try await running.value
    }

    @Test func aNewBuildAtTheSamePathIsLoadedAsANewCopyAndTheOldOneFinishesItsJob() async throws {
        let redis = try RedisServer()
        let directory = try TemporaryDirectory()
        let plugin = directory.path + "/libProbe.so"
        try FileManager.default.copyItem(atPath: ProductsDirectory.plugin("FixtureCEcho"), toPath: plugin)
        let pipeline = try QueueTestPipeline(
            redis: redis, jobs: "work: {plugin: probe, concurrency: 1}", plugin: plugin, isolation: "none")
        let runtime = try await pipeline.runtime()
        let running = Task { try await runtime.run() }
        let queue = pipeline.queue(client: try testClient(redis))
        let old = try #require(runtime.plugins["probe"])
        let inFlight = try await runtime.enqueue("work", payloadJSON: Self.slowJob)
        try await eventually("the job runs") { try await queue.job(inFlight)?.state == .active }

        // A new build: another file at the same path (here the same code with a byte more).
        var build = try Data(contentsOf: URL(fileURLWithPath: plugin))
        build.append(0)
        try FileManager.default.removeItem(atPath: plugin)
        try build.write(to: URL(fileURLWithPath: plugin))
        guard case .applied(let summary) = await runtime.reload() else { throw TestFailure("reload refused") }
        #expect(summary.pluginsStarted == ["probe"] && summary.pluginsRetired == ["probe"])
        let new = try #require(runtime.plugins["probe"])
        #expect(new !== old)
        #expect(old.plugin.imagePath == plugin && new.plugin.imagePath != plugin && new.plugin.imagePath.contains("pipeline-host-plugins-"))
        // /proc files report size 0: read them to the end.
        let maps = String(decoding: try #require(FileHandle(forReadingAtPath: "/proc/self/maps")).readToEnd() ?? Data(), as: UTF8.self)
        let mapped = maps.split(separator: "\n").filter { $0.contains("libProbe") }.map { String($0.split(separator: " ").last ?? "") }
        #expect(Set(mapped).count >= 2, "both builds are mapped side by side: \(Set(mapped))")

        try await eventually("the old build finished its job") { try await queue.job(inFlight)?.state == .completed }
        let next = try await runtime.enqueue("work", payloadJSON: #"{"mode":"probe"}"#)
        try await eventually("the new build runs the next") { try await queue.job(next)?.state == .completed }
        runtime.beginStop()
        try await running.value
    }
}
