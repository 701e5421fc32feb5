import Foundation
import PipelineHost
import Testing

extension InProcessQueueTests {
    /// Schedules on a real Redis and PostgreSQL, with two hosts.
    @Suite struct SchedulerTests {
        @Test func aOneSecondScheduleOnTwoHostsFiresOncePerTick() async throws {
            let (redis, pipeline, postgres) = try HistoryTests.setUp(
                try await PostgresServer.start(), jobs: "work: {plugin: probe, schedule: {every: 1s}}")
            _ = postgres
            let first = try await pipeline.runtime(hostID: "host-a")
            let second = try await pipeline.runtime(hostID: "host-b")
            let runningFirst = Task { try await first.run() }
            let runningSecond = Task { try await second.run() }
            let client = try testClient(redis)
            let queue = JobQueue(name: "work", prefix: pipeline.prefix, client: client)
            // A job with no mode is the fixture's echo: each firing completes at once.
            try await eventually("five firings", timeout: .seconds(20)) {
                (try await queue.counts()[.completed] ?? 0) >= 5
            }
            first.beginStop()
            second.beginStop()
            try await runningFirst.value
            try await runningSecond.value

            let events = try await client.send(["XRANGE", queue.key("events"), "-", "+"]).elements
            let fields = events.map { $0.elements.last?.elements.compactMap(\.text) ?? [] }
            let added = fields.filter { $0.count >= 4 && $0[1] == "added" }.map { $0[3] }
            #expect(fields.filter { $0.count >= 2 && $0[1] == "duplicated" }.isEmpty, "no tick was fired twice")
            #expect(Set(added).count == added.count)
            #expect(added.allSatisfy { $0.hasPrefix("sched-work-") })
            // One firing per second, give or take the edges.
            let ticks = added.compactMap { id -> Int64? in Int64(id.dropFirst("sched-work-".count).prefix(14)) }
            #expect(Set(ticks).count == ticks.count, "each tick once: \(added)")
        }

        @Test func aHostDownForSeveralIntervalsMakesExactlyOneCatchUpRun() async throws {
            let (redis, pipeline, postgres) = try HistoryTests.setUp(
                try await PostgresServer.start(), jobs: "slow: {plugin: probe, schedule: {every: 1h}}")
            let runtime = try await pipeline.runtime(hostID: "returning")
            try await Migrations.run(on: postgres)
            let scheduler = try #require(runtime.scheduler)
            // As left by a host that stopped five hours ago.
            try await postgres.query(
                """
                INSERT INTO scheduled_jobs (name, job_type, kind, expression, next_run_at)
                VALUES ('slow', 'slow', 'every', '1h', now() - interval '5 hours')
                """)
            let fired = try await scheduler.fireDue()
            #expect(fired.count == 1)
            #expect(try await scheduler.fireDue().isEmpty, "one catch-up run, not five")
            let entry = try #require(try await scheduler.entries().first)
            #expect(entry.lastRunJobID == fired.first)
            let next = try await postgres.query("SELECT next_run_at > now() + interval '59 minutes' FROM scheduled_jobs").rows
            #expect(next == [["t"]])
            let client = try testClient(redis)
            #expect(try await JobQueue(name: "slow", prefix: pipeline.prefix, client: client).job(fired[0]) != nil)
            // Trigger now and disable.
            let manual = try #require(try await scheduler.trigger("slow"))
            #expect(manual.hasPrefix("manual-slow-"))
            #expect(try await scheduler.setEnabled("slow", false))
            try await postgres.query("UPDATE scheduled_jobs SET next_run_at = now() - interval '1 minute'")
            #expect(try await scheduler.fireDue().isEmpty, "a disabled schedule does not fire")
        }
    }
}
