import Foundation
import PipelineHost
import Testing

extension InProcessQueueTests {
    /// Job history and request effects, written by a running host to a real PostgreSQL.
    @Suite struct HistoryTests {
        static func setUp(_ postgres: PostgresServer, jobs: String = "work: {plugin: probe}") throws
            -> (RedisServer, QueueTestPipeline, PostgresClient)
        {
            let redis = try RedisServer()
            let schema = "t_\(UUID().uuidString.prefix(8).lowercased())"
            let pipeline = try QueueTestPipeline(redis: redis, jobs: jobs, postgres: (postgres.url, schema))
            return (redis, pipeline, try postgres.client(schema: schema))
        }

        static func waitForHistory(_ runtime: PipelineRuntime) async throws {
            try await eventually("history written") { runtime.history!.pendingCount == 0 && runtime.history!.writtenCount > 0 }
            await runtime.history!.flush()
        }

        @Test func aJobThatFailsTwiceThenSucceedsHasOneRowWithThreeAttemptsAndEventsForEach() async throws {
            let (redis, pipeline, postgres) = try Self.setUp(
                try await PostgresServer.start(), jobs: "work: {plugin: probe, backoff: {type: fixed, delay: 50ms}}")
            _ = redis
            let runtime = try await pipeline.runtime()
            let running = Task { try await runtime.run() }
            let id = try await runtime.enqueue("work", payloadJSON: #"{"mode":"probe","fail_until_attempt":3}"#)
            try await eventually("completed") {
                (try? await postgres.query("SELECT status FROM jobs WHERE job_id = $1", [id]).rows.first?.first) == "completed"
            }
            runtime.beginStop()
            try await running.value

            let rows = try await postgres.query("SELECT status, attempts, max_attempts, result->>'attempt', error_message FROM jobs")
            #expect(rows.rows == [["completed", "3", "3", "3", nil]])
            let events = try await postgres.query(
                "SELECT run, level, context, message FROM job_events WHERE job_id = $1 ORDER BY id", [id])
            let lines = events.rows.map { "\($0[0]!) \($0[1]!) \($0[2]!) \($0[3]!)" }
            #expect(lines.filter { $0.contains("started on test-host") }.count == 3, "\(lines)")
            #expect(lines.filter { $0.contains("failed: probe: failing this attempt on purpose; retry in 50ms") }.count == 2)
            #expect(lines.filter { $0.hasPrefix("3 info host completed in") }.count == 1)
            #expect(Set(events.rows.map { $0[0]! }) == ["1", "2", "3"], "one run per attempt")
        }

        @Test func historyStillBufferedAtStopIsWrittenBeforeTheHostExits() async throws {
            let (redis, pipeline, postgres) = try Self.setUp(
                try await PostgresServer.start(), jobs: "work: {plugin: probe, concurrency: 8, retention: {completed: all}}")
            let runtime = try await pipeline.runtime()
            let queue = pipeline.queue(client: try testClient(redis))
            _ = try await queue.addBulk((0..<2000).map { _ in (nil, #"{"mode":"probe"}"#, JobOptions()) })
            let running = Task { try await runtime.run() }
            try await eventually("all done") { (try await queue.counts()[.completed] ?? 0) == 2000 }
            runtime.beginStop()
            try await running.value
            // No waiting for the writer: everything is there as soon as run() returns.
            let rows = try await postgres.query("SELECT count(*) FROM jobs WHERE status = 'completed'").rows
            #expect(rows == [["2000"]])
        }

        @Test func aRecordPostgreSQLRefusesDoesNotHoldBackTheRest() async throws {
            let (redis, pipeline, postgres) = try Self.setUp(try await PostgresServer.start(), jobs: "echo: {plugin: probe}")
            let runtime = try await pipeline.runtime()
            let queue = pipeline.queue("echo", client: try testClient(redis))
            // Data another producer wrote that is not JSON, and JSON that jsonb refuses (a NUL).
            let notJSON = try await queue.add(dataJSON: "not json")
            let withNUL = try await queue.add(dataJSON: "{\"title\":\"a\\u0000b\"}")  // JSON's escape
            let rawNUL = try await queue.add(dataJSON: "{\"title\":\"a\u{0}b\"}")  // a NUL byte itself
            let plain = try await queue.add(dataJSON: #"{"title":"fine"}"#)
            let running = Task { try await runtime.run() }
            try await eventually("all four finished") { (try await queue.counts()[.completed] ?? 0) == 4 }
            runtime.beginStop()
            try await running.value
            let rows = try await postgres.query("SELECT job_id, status, payload->>'title' FROM jobs ORDER BY job_id").rows
            #expect(rows.contains([plain, "completed", "fine"]))
            #expect(rows.contains([withNUL, "completed", "ab"]), "the NUL is dropped, the rest kept: \(rows)")
            #expect(rows.contains([rawNUL, "completed", "ab"]), "\(rows)")
            #expect(rows.contains { $0[0] == notJSON && $0[1] == "completed" }, "its other states are written: \(rows)")
            let events = try await postgres.query("SELECT count(*) FROM job_events WHERE message LIKE 'completed in%'").rows
            #expect(events == [["4"]])
        }

        @Test func requestTransitionsTakeEffectWithTheOutcome() async throws {
            let (redis, pipeline, postgres) = try Self.setUp(try await PostgresServer.start(), jobs: "echo: {plugin: probe, attempts: 3, backoff: {type: fixed, delay: 20ms}}")
            _ = redis
            let ledger = RequestLedger(client: postgres)
            try await Migrations.run(on: postgres)
            _ = try await ledger.create(id: "req-1", title: "Dune", author: "Frank Herbert", status: .pending)
            _ = try await ledger.create(id: "r-fail", title: "Emma", author: "Jane Austen", status: .searching)
            _ = try await ledger.create(id: "r-retry", title: "Ulysses", author: "James Joyce", status: .downloading)
            let runtime = try await pipeline.runtime()
            let running = Task { try await runtime.run() }
            // The plugin asks for req-1 → searching: applied when the job is done.
            _ = try await runtime.enqueue("echo", payloadJSON: #"{"mode":"effects"}"#)
            // A permanent failure of a request's job: the request becomes failed.
            _ = try await runtime.enqueue("echo", payloadJSON: #"{"mode":"fail","requestId":"r-fail"}"#)
            // Two failed attempts, then success: never failed on the way.
            let retried = try await runtime.enqueue("echo", payloadJSON: #"{"mode":"probe","fail_until_attempt":3,"requestId":"r-retry"}"#)
            try await eventually("settled") {
                let statuses = try await postgres.query("SELECT id, status FROM requests ORDER BY id").rows
                let done = try await postgres.query("SELECT status FROM jobs WHERE job_id = $1", [retried]).rows.first?.first
                return statuses == [["r-fail", "failed"], ["r-retry", "downloading"], ["req-1", "searching"]] && done == "completed"
            }
            let reason = try await postgres.query("SELECT status_reason FROM requests WHERE id = 'r-fail'").rows
            #expect(reason == [["the payload names no book"]])
            runtime.beginStop()
            try await running.value
        }

        @Test func aLibraryReportRecordsItemsRemovesStaleOnesAndMakesMatchingRequestsAvailable() async throws {
            let (redis, pipeline, postgres) = try Self.setUp(try await PostgresServer.start(), jobs: "echo: {plugin: probe}")
            _ = redis
            try await Migrations.run(on: postgres)
            let ledger = RequestLedger(client: postgres)
            _ = try await ledger.create(id: "hail-mary", title: "Project Hail Mary", author: "Andy Weir", status: .downloaded)
            _ = try await ledger.create(id: "dune", title: "Dune", author: "F. Herbert", asin: "B002V1OF70", status: .downloading)
            _ = try await ledger.create(id: "martian", title: "The Martian", author: "Andy Weir", status: .downloaded)
            _ = try await ledger.create(id: "emma", title: "Emma", author: "Jane Austen", status: .awaitingImport)
            _ = try await ledger.create(id: "gone", title: "Emma", author: "Jane Austen", status: .cancelled)
            try await postgres.query("INSERT INTO library_items (backend, item_id, title) VALUES ('plex', 'stale', 'Deleted Book')")
            try await postgres.query("INSERT INTO library_items (backend, item_id, title) VALUES ('audiobookshelf', 'a-1', 'Other Backend')")
            let runtime = try await pipeline.runtime()
            let running = Task { try await runtime.run() }
            func statuses() async throws -> [[String?]] {
                try await postgres.query("SELECT id, status FROM requests ORDER BY id").rows
            }
            _ = try await runtime.enqueue("echo", payloadJSON: #"{"mode":"library_full"}"#)
            try await eventually("full listing applied") {
                try await postgres.query("SELECT item_id FROM library_items ORDER BY backend, item_id").rows
                    == [["a-1"], ["pl-1"], ["pl-2"]]
            }
            try await eventually("matches available") {
                try await statuses() == [
                    ["dune", "available"], ["emma", "awaiting_import"], ["gone", "cancelled"], ["hail-mary", "available"],
                    ["martian", "downloaded"],
                ]
            }
            let reasons = try await postgres.query("SELECT status_reason FROM requests WHERE id IN ('dune', 'hail-mary') ORDER BY id").rows
            #expect(reasons == [["in the plex library as 'Dune' (same ASIN)"], ["in the plex library as 'Project Hail Mary (Unabridged)' (title and author alike, 1.00)"]])
            _ = try await runtime.enqueue("echo", payloadJSON: #"{"mode":"library_added"}"#)
            try await eventually("addition applied") { try await statuses().contains(["emma", "available"]) }
            #expect(try await postgres.query("SELECT count(*) FROM library_items WHERE backend = 'plex'").rows == [["3"]], "nothing removed by an addition")
            #expect(try await statuses().contains(["gone", "cancelled"]), "a cancelled request stays cancelled")
            runtime.beginStop()
            try await running.value
        }

        @Test func aRowLeftActiveByAKilledHostIsRepairedFromRedis() async throws {
            let (redis, pipeline, postgres) = try Self.setUp(try await PostgresServer.start(), jobs: "echo: {plugin: probe}")
            _ = redis
            let first = try await pipeline.runtime()
            let running = Task { try await first.run() }
            let id = try await first.enqueue("echo", payloadJSON: #"{"mode":"done","title":"kept"}"#)
            try await eventually("completed") {
                (try? await postgres.query("SELECT status FROM jobs WHERE job_id = $1", [id]).rows) == [["completed"]]
            }
            first.beginStop()
            try await running.value
            // What a host killed after finishing the job in Redis, before writing it here, leaves.
            try await postgres.query(
                "UPDATE jobs SET status = 'active', result = NULL, updated_at = now() - interval '1 hour' WHERE job_id = $1", [id])
            let second = try await pipeline.runtime(hostID: "second")
            let again = Task { try await second.run() }
            try await eventually("repaired") {
                try await postgres.query("SELECT status, result->>'title' FROM jobs WHERE job_id = $1", [id]).rows
                    == [["completed", "kept"]]
            }
            let events = try await postgres.query("SELECT message FROM job_events WHERE job_id = $1 AND message LIKE '%repaired%'", [id])
            #expect(events.count == 1)
            second.beginStop()
            try await again.value
        }

        @Test func aJobThatFailsForGoodAfterMovingItsRequestOnStillFailsTheRequest() async throws {
            let (redis, pipeline, postgres) = try Self.setUp(try await PostgresServer.start(), jobs: "echo: {plugin: probe, attempts: 1}")
            _ = redis
            try await Migrations.run(on: postgres)
            _ = try await RequestLedger(client: postgres).create(id: "req-1", title: "Dune", author: "F. H.", status: .pending)
            let runtime = try await pipeline.runtime()
            let running = Task { try await runtime.run() }
            _ = try await runtime.enqueue("echo", payloadJSON: #"{"mode":"effects_then_fail","requestId":"req-1"}"#)
            try await eventually("request failed") {
                try await postgres.query("SELECT status, status_reason FROM requests").rows
                    == [["failed", "failing after asking for searching"]]
            }
            runtime.beginStop()
            try await running.value
        }

        @Test func anIllegalTransitionIsRefusedAtOnceAndNothingOverwritesCancelled() async throws {
            let (redis, pipeline, postgres) = try Self.setUp(try await PostgresServer.start(), jobs: "echo: {plugin: probe, attempts: 1}")
            _ = redis
            try await Migrations.run(on: postgres)
            _ = try await RequestLedger(client: postgres).create(id: "req-1", title: "Dune", author: "F. H.", status: .cancelled)
            let runtime = try await pipeline.runtime()
            let running = Task { try await runtime.run() }
            let id = try await runtime.enqueue("echo", payloadJSON: #"{"mode":"effects"}"#)
            try await eventually("failed") {
                (try? await postgres.query("SELECT status FROM jobs WHERE job_id = $1", [id]).rows.first?.first) == "failed"
            }
            runtime.beginStop()
            try await running.value
            #expect(try await postgres.query("SELECT error_message FROM jobs").rows == [["transition refused"]])
            #expect(try await postgres.query("SELECT status FROM requests").rows == [["cancelled"]])
            let warning = try await postgres.query("SELECT message FROM job_events WHERE context LIKE 'plugin:%'").rows
            #expect(warning == [["transition refused: the request was cancelled; nothing may change it"]])
        }

        @Test func postgresAwayForTwentySecondsLosesNoHistory() async throws {
            let server = try await PostgresServer.dedicated()
            let (redis, pipeline, postgres) = try Self.setUp(server, jobs: "work: {plugin: probe, concurrency: 4, retention: {completed: all}}")
            _ = redis
            let runtime = try await pipeline.runtime()
            let running = Task { try await runtime.run() }
            let client = try testClient(redis)
            let queue = pipeline.queue(client: client)
            try await eventually("schema ready") { (try? await postgres.query("SELECT count(*) FROM jobs")) != nil }
            let ids = try await queue.addBulk((0..<1000).map { _ in (nil, #"{"mode":"probe","sleep_ms":30}"#, JobOptions()) })
            try await eventually("some jobs done") { (try await queue.counts()[.completed] ?? 0) >= 100 }
            await server.halt()
            let stopped = ContinuousClock.now
            try await Task.sleep(for: .seconds(20))
            #expect((try await queue.counts()[.completed] ?? 0) > 150, "the queue went on without PostgreSQL")
            try await server.restart()
            try await eventually("all 1000 completed", timeout: .seconds(120)) { (try await queue.counts()[.completed] ?? 0) == 1000 }
            do {
                try await eventually("all 1000 rows written", timeout: .seconds(60)) {
                    (try? await postgres.query("SELECT count(*) FROM jobs WHERE status = 'completed'").rows) == [["1000"]]
                }
            } catch {
                let byStatus = try? await postgres.query("SELECT status, count(*) FROM jobs GROUP BY status ORDER BY status").rows
                Issue.record("rows by status: \(String(describing: byStatus))")
                throw error
            }
            #expect(ContinuousClock.now - stopped >= .seconds(20))
            runtime.beginStop()
            try await running.value
            let rows = try await postgres.query("SELECT count(*) FROM jobs").rows
            #expect(rows == [["1000"]])
            let events = try await postgres.query(
                "SELECT count(*) FROM job_events WHERE context = 'host' AND message LIKE 'completed in%'").rows
            #expect(events == [["1000"]])
            let started = try await postgres.query("SELECT count(DISTINCT job_id) FROM job_events WHERE message LIKE 'attempt 1 of%'").rows
            #expect(started == [["1000"]])
            #expect(Set(ids).count == 1000)
        }
    }
}
