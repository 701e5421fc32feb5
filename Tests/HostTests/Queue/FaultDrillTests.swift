import Foundation
import PipelineHost
import Testing

/// Hosts that die, stop, or lose Redis mid-run: every job still ends
/// completed, and none is lost. The hosts are real `pipeline-host run`
/// processes; the plugin is the C fixture's probe.
@Suite struct FaultDrillTests {
    static func counts(_ queue: JobQueue) async throws -> (completed: Int, failed: Int, active: Int) {
        let counts = try await queue.counts()
        return (counts[.completed] ?? 0, counts[.failed] ?? 0, counts[.active] ?? 0)
    }

    @Test func aKilledHostsJobsAreRecoveredByAnotherThroughTheStalledCheck() async throws {
        let redis = try RedisServer()
        let postgresServer = try await PostgresServer.start()
        let schema = "t_\(UUID().uuidString.prefix(8).lowercased())"
        let pipeline = try QueueTestPipeline(
            redis: redis, jobs: "work: {plugin: probe, concurrency: 4}",
            queue: "lock_duration: 1s, stalled_interval: 500ms", postgres: (postgresServer.url, schema))
        let postgres = try postgresServer.client(schema: schema)
        let client = try testClient(redis)
        let queue = pipeline.queue(client: client)
        let ids = try await queue.addBulk((0..<20).map { _ in (nil, #"{"mode":"probe","sleep_ms":1000}"#, JobOptions()) })

        let first = try HostProcess(config: pipeline.file, hostID: "doomed", directory: pipeline.directory)
        do {
            // Under a loaded CI machine a host may take a while to start its runner.
            try await eventually("4 jobs in flight", timeout: .seconds(90)) { try await Self.counts(queue).active == 4 }
        } catch {
            throw TestFailure("\(error); counts \(try await queue.counts()); the host printed:\n\(first.output)")
        }
        first.kill()
        let inFlight = try await Self.counts(queue).active
        #expect(inFlight > 0, "jobs were running when the host died")

        let second = try HostProcess(config: pipeline.file, hostID: "rescuer", directory: pipeline.directory)
        try await eventually("all 20 completed", timeout: .seconds(60)) { try await Self.counts(queue).completed == 20 }
        // History catches up: a job the doomed host finished just before the
        // kill, its record still in that host's buffer, is repaired from Redis.
        try await eventually("history shows all 20 completed", timeout: .seconds(30)) {
            try await postgres.query("SELECT status, count(*) FROM jobs GROUP BY status").rows == [["completed", "20"]]
        }
        second.terminate()
        #expect(try await second.exitCode() == 0)

        #expect(try await Self.counts(queue).failed == 0)
        var recovered = 0
        for id in ids {
            let job = try #require(try await queue.job(id))
            #expect(job.state == .completed)
            if job.fields["stc"] != nil { recovered += 1 }
        }
        #expect(recovered == inFlight, "every job in flight at the kill was recovered through the stalled check")
        #expect(second.output.contains("recovered stalled jobs"))
        // Its SIGTERM flushed the history without warning of an outage that was not one.
        #expect(!second.output.contains("cannot write job history"), "\(second.output)")
        // History: every job's row ends completed (the stalled ones were `stuck` on the way), with a stall event each.
        #expect(try await postgres.query("SELECT status, count(*) FROM jobs GROUP BY status").rows == [["completed", "20"]])
        let stalls = try await postgres.query("SELECT count(DISTINCT job_id) FROM job_events WHERE message LIKE 'stalled%'").rows
        #expect(stalls == [[String(inFlight)]])
    }

    @Test func aStoppedHostHandsRunningJobsBackAndAnotherFinishesThemBeforeTheStallInterval() async throws {
        let redis = try RedisServer()
        let pipeline = try QueueTestPipeline(
            redis: redis, jobs: "work: {plugin: probe, concurrency: 2}",
            queue: "shutdown_grace: 300ms, lock_duration: 30s, stalled_interval: 30s")
        let client = try testClient(redis)
        let queue = pipeline.queue(client: client)
        let ids = try await queue.addBulk((0..<2).map { _ in (nil, #"{"mode":"probe","sleep_ms":3000}"#, JobOptions()) })

        let first = try HostProcess(config: pipeline.file, hostID: "leaving", directory: pipeline.directory)
        try await eventually("2 jobs in flight") { try await Self.counts(queue).active == 2 }
        let stopped = ContinuousClock.now
        first.terminate()
        #expect(try await first.exitCode() == 0)
        #expect(first.output.contains("handing running jobs back to the queue"))
        #expect(try await Self.counts(queue).active == 0)

        let second = try HostProcess(config: pipeline.file, hostID: "staying", directory: pipeline.directory)
        try await eventually("both completed", timeout: .seconds(20)) { try await Self.counts(queue).completed == 2 }
        #expect(ContinuousClock.now - stopped < .seconds(15), "well before the 30 s stall interval")
        second.terminate()
        _ = try await second.exitCode()
        for id in ids {
            let job = try #require(try await queue.job(id))
            #expect(job.state == .completed)
            #expect(job.attemptsMade == 1, "a hand-back is not a failed attempt")
            #expect(job.fields["stc"] == nil, "not recovered as stalled")
        }
    }

    @Test func jobsThatFinishWithinTheGraceFinishOnTheStoppingHost() async throws {
        let redis = try RedisServer()
        let pipeline = try QueueTestPipeline(
            redis: redis, jobs: "work: {plugin: probe, concurrency: 3}", queue: "shutdown_grace: 10s")
        let client = try testClient(redis)
        let queue = pipeline.queue(client: client)
        _ = try await queue.addBulk((0..<3).map { _ in (nil, #"{"mode":"probe","sleep_ms":2000}"#, JobOptions()) })
        let host = try HostProcess(config: pipeline.file, hostID: "graceful", directory: pipeline.directory)
        try await eventually("3 jobs in flight") { try await Self.counts(queue).active == 3 }
        host.terminate()
        #expect(try await host.exitCode() == 0)
        let counts = try await Self.counts(queue)
        #expect(counts.completed == 3 && counts.active == 0)
        #expect(!host.output.contains("handing running jobs back"))
    }

    @Test func theHostReconnectsByItselfWhenRedisRestarts() async throws {
        let redis = try RedisServer(appendOnly: true)
        let pipeline = try QueueTestPipeline(redis: redis, jobs: "work: {plugin: probe, concurrency: 2}")
        let client = try testClient(redis)
        let queue = pipeline.queue(client: client)
        _ = try await queue.addBulk((0..<40).map { _ in (nil, #"{"mode":"probe","sleep_ms":50}"#, JobOptions()) })
        let host = try HostProcess(config: pipeline.file, hostID: "steadfast", directory: pipeline.directory)
        try await eventually("some completed") { try await Self.counts(queue).completed >= 5 }
        try await redis.stop()
        try redis.start()
        // The test's own client loses its connections too: a failed read just means "not yet".
        try await eventually("all 40 completed", timeout: .seconds(60)) { (try? await Self.counts(queue).completed) == 40 }
        #expect(try await Self.counts(queue).failed == 0)
        #expect(host.output.contains("Redis unreachable; retrying"), "the host saw Redis go")
        // And it still takes new work: a job added now runs (the idle host waits on the marker again).
        let late = try await queue.add(dataJSON: #"{"mode":"probe"}"#)
        try await eventually("a job added after the restart ran") { (try? await queue.job(late)?.state) == .completed }
        host.terminate()
        #expect(try await host.exitCode() == 0)
    }
}
