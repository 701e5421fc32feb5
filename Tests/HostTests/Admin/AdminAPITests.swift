import Foundation
import PipelineHost
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

extension InProcessQueueTests {
    /// The admin API over real HTTP, on a running host with Redis and PostgreSQL.
    @Suite struct AdminAPITests {
        static let token = "s3cret-token"

        struct Server {
            let runtime: PipelineRuntime
            let base: String
            let postgres: PostgresClient
            let pipeline: QueueTestPipeline
            let tasks: [Task<Void, any Error>]

            func stop() async throws {
                runtime.beginStop()
                tasks[1].cancel()
                try await tasks[0].value
            }
        }

        static func start(jobs: String = "work: {plugin: probe, schedule: {every: 1h}}") async throws -> (Server, RedisServer) {
            let (redis, pipeline, postgres) = try HistoryTests.setUp(try await PostgresServer.start(), jobs: jobs)
            let runtime = try await pipeline.runtime()
            let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
            let app = AdminAPI(runtime: runtime, token: token).application(
                host: "127.0.0.1", port: 0, logger: .silent, onListening: { continuation.yield($0) })
            let running = Task { try await runtime.run() }
            let serving = Task { try await app.runService() }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            try await eventually("schema ready") { (try? await postgres.query("SELECT count(*) FROM scheduled_jobs")) != nil }
            try await eventually("the host ready") { runtime.isHistoryReady }
            return (Server(runtime: runtime, base: "http://127.0.0.1:\(port)", postgres: postgres, pipeline: pipeline, tasks: [running, serving]), redis)
        }

        static func call(
            _ server: Server, _ method: String, _ path: String, body: String? = nil, token: String? = AdminAPITests.token
        ) async throws -> (status: Int, json: [String: Any], text: String) {
            var request = URLRequest(url: URL(string: server.base + path)!)
            request.httpMethod = method
            if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
            if let body {
                request.httpBody = Data(body.utf8)
                request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            }
            let (data, response) = try await URLSession.shared.data(for: request)
            let text = String(decoding: data, as: UTF8.self)
            let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
            return ((response as! HTTPURLResponse).statusCode, json, text)
        }

        @Test func everythingUnderAPINeedsTheToken() async throws {
            let (server, redis) = try await Self.start()
            _ = redis
            for (method, path) in [
                ("GET", "/api/admin/logs"), ("GET", "/api/admin/jobs"), ("GET", "/api/admin/job-status/1"),
                ("POST", "/api/requests"), ("POST", "/api/admin/jobs/work/trigger"), ("GET", "/api/requests/x"),
            ] {
                let missing = try await Self.call(server, method, path, token: nil)
                #expect(missing.status == 401, "\(method) \(path)")
                #expect(missing.json["success"] as? Bool == false)
                #expect((missing.json["error"] as? String)?.contains("bearer token") == true)
                #expect(try await Self.call(server, method, path, token: "s3cret-tokem").status == 401)
            }
            let health = try await Self.call(server, "GET", "/healthz", token: nil)
            #expect(health.status == 200)
            #expect(health.json["redis"] as? String == "ok" && health.json["postgres"] as? String == "ok")
            try await server.stop()
        }

        @Test func requestsAreStoredVerbatimAndCanBeCancelledAndRetried() async throws {
            let (server, redis) = try await Self.start()
            _ = redis
            let hostile = #"Robert'); DROP TABLE requests;-- <script>alert("x")</script> & ☃"#
            let body = String(decoding: try JSONSerialization.data(withJSONObject: ["title": hostile, "author": hostile]), as: UTF8.self)
            let created = try await Self.call(server, "POST", "/api/requests", body: body)
            #expect(created.status == 201, "\(created.text)")
            let request = try #require(created.json["request"] as? [String: Any])
            let id = try #require(request["id"] as? String)
            #expect(request["title"] as? String == hostile)
            #expect(request["status"] as? String == "pending")
            let read = try await Self.call(server, "GET", "/api/requests/\(id)")
            #expect((read.json["request"] as? [String: Any])?["author"] as? String == hostile)

            let malformed = try await Self.call(server, "POST", "/api/requests", body: #"{"title": "x""#)
            #expect(malformed.status == 400)
            #expect((malformed.json["error"] as? String)?.hasPrefix("malformed JSON body") == true)
            let missingField = try await Self.call(server, "POST", "/api/requests", body: #"{"title": "x"}"#)
            #expect(missingField.status == 400)
            #expect(missingField.json["error"] as? String == "malformed JSON body: missing field 'author'")
            #expect(try await Self.call(server, "GET", "/api/requests/nope").status == 404)

            // A waiting job of the request is removed when it is cancelled.
            let waiting = try await server.runtime.enqueue("work", payloadJSON: #"{"requestId":"\#(id)","mode":"probe"}"#) {
                $0.delay = .seconds(3600)
            }
            try await eventually("job row") {
                (try? await server.postgres.query("SELECT status FROM jobs WHERE job_id = $1", [waiting]).rows) == [["delayed"]]
            }
            let cancelled = try await Self.call(server, "POST", "/api/requests/\(id)/cancel")
            #expect(cancelled.status == 200, "\(cancelled.text)")
            #expect((cancelled.json["request"] as? [String: Any])?["status"] as? String == "cancelled")
            #expect(cancelled.json["removedJobs"] as? [String] == [waiting])
            let client = try testClient(redis)
            #expect(try await server.pipeline.queue(client: client).job(waiting) == nil)
            let again = try await Self.call(server, "POST", "/api/requests/\(id)/cancel")
            #expect(again.status == 409)
            #expect(try await Self.call(server, "POST", "/api/requests/\(id)/retry").status == 409)

            let failed = try await server.runtime.ledger!.create(title: "Emma", author: "Austen", status: .failed)
            let retried = try await Self.call(server, "POST", "/api/requests/\(failed.id)/retry")
            #expect((retried.json["request"] as? [String: Any])?["status"] as? String == "pending")
            try await server.stop()
        }

        /// A release blocklisted for a request (by a download that failed in
        /// its client) is listed, carried into every search the host builds
        /// for the request, and can be taken off again.
        @Test func aRequestsBlocklistIsListedCarriedIntoItsSearchesAndRemovable() async throws {
            let (server, redis) = try await Self.start()
            _ = redis
            let ledger = try #require(server.runtime.ledger)
            let emma = try await ledger.create(title: "Emma", author: "Jane Austen", status: .downloading)
            let other = try await ledger.create(title: "Persuasion", author: "Jane Austen", status: .downloading)
            let hash = "0123456789abcdef0123456789abcdef01234567"
            for (id, details) in [
                (emma.id, #"{"blocklist": {"release_title": "Emma [MP3]", "release_id": "\#(hash)", "indexer": "MyAnonamouse", "protocol": "torrent", "reason": "missingFiles"}}"#),
                (emma.id, #"{"blocklist": {"release_title": "EMMA [mp3]", "release_id": "\#(hash)", "reason": "error: disk full"}}"#),
                (emma.id, #"{"blocklist": {"release_title": "Emma (Unabridged)", "protocol": "usenet", "reason": "FAILURE/HEALTH"}}"#),
                (other.id, #"{"blocklist": {"release_title": "Persuasion [MP3]", "reason": "missingFiles"}}"#),
            ] {
                try await ledger.transition(id, to: .downloading, update: RequestUpdate(detailsJSON: details))
            }
            let listed = try await Self.call(server, "GET", "/api/requests/\(emma.id)/blocklist")
            #expect(listed.status == 200, "\(listed.text)")
            let entries = try #require(listed.json["blocklist"] as? [[String: Any]])
            #expect(entries.map { $0["releaseTitle"] as? String } == ["Emma (Unabridged)", "Emma [MP3]"], "one row per release, newest first")
            #expect(entries.last?["reason"] as? String == "error: disk full", "blocklisted again, it keeps the newest reason")
            #expect(entries.last?["indexer"] as? String == "MyAnonamouse" && entries.last?["releaseId"] as? String == hash)

            let snapshot = try #require(try await ledger.snapshot(emma.id))
            #expect(snapshot.searchPayload()["blocklist"] == ["Emma (Unabridged)", "Emma [MP3]", .string(hash)])
            #expect(try #require(try await ledger.snapshot(other.id)).searchPayload()["blocklist"] == ["Persuasion [MP3]"])

            let all = try await Self.call(server, "GET", "/api/admin/blocklist")
            #expect((all.json["blocklist"] as? [[String: Any]])?.count == 3)
            #expect(try await Self.call(server, "GET", "/api/admin/blocklist?limit=0").status == 400)
            #expect(try await Self.call(server, "GET", "/api/requests/nope/blocklist").status == 404)

            let entryID = try #require(entries.last?["id"] as? Int)
            let otherID = try #require(
                (try await Self.call(server, "GET", "/api/requests/\(other.id)/blocklist").json["blocklist"] as? [[String: Any]])?.first?["id"] as? Int)
            #expect(try await Self.call(server, "DELETE", "/api/requests/\(emma.id)/blocklist/\(otherID)").status == 404, "another request's entry")
            #expect(try await Self.call(server, "DELETE", "/api/requests/\(emma.id)/blocklist/x").status == 400)
            let removed = try await Self.call(server, "DELETE", "/api/requests/\(emma.id)/blocklist/\(entryID)")
            #expect(removed.status == 200, "\(removed.text)")
            #expect(try await Self.call(server, "DELETE", "/api/requests/\(emma.id)/blocklist/\(entryID)").status == 404)
            #expect(try #require(try await ledger.snapshot(emma.id)).searchPayload()["blocklist"] == ["Emma (Unabridged)"])

            #expect(throws: RequestUpdate.Malformed.self) { try RequestUpdate(detailsJSON: #"{"blocklist": {"release_title": " ", "reason": "x"}}"#) }
            #expect(throws: RequestUpdate.Malformed.self) { try RequestUpdate(detailsJSON: #"{"blocklist": {"release_title": "x"}}"#) }
            let long = String(repeating: "x", count: 5_000)
            #expect(throws: RequestUpdate.Malformed.self) { try RequestUpdate(detailsJSON: #"{"blocklist": {"release_title": "\#(long)", "reason": "x"}}"#) }
            try await server.stop()
        }

        @Test func jobsLogsAndSchedules() async throws {
            let (server, redis) = try await Self.start()
            _ = redis
            let id = try await server.runtime.enqueue("work", payloadJSON: #"{"mode":"fail","requestId":"r<1>'"}"#)
            try await eventually("job failed") {
                (try? await server.postgres.query("SELECT status FROM jobs WHERE job_id = $1", [id]).rows) == [["failed"]]
            }
            try await eventually("history flushed") { server.runtime.history!.pendingCount == 0 }
            let status = try await Self.call(server, "GET", "/api/admin/job-status/\(id)")
            #expect(status.status == 200)
            let job = try #require(status.json["job"] as? [String: Any])
            #expect(job["id"] as? String == id && job["type"] as? String == "work" && job["status"] as? String == "failed")
            #expect(job["errorMessage"] as? String == "the payload names no book")
            #expect(job["attempts"] as? Int == 1)
            let stack = try await server.postgres.query("SELECT error_stack FROM jobs WHERE job_id = $1", [id]).rows
            #expect(stack == [[#"{"field":"title"}"#]], "the plugin's details are kept with the failure")
            for key in ["createdAt", "startedAt", "completedAt", "maxAttempts"] { #expect(job[key] != nil, "\(key)") }
            #expect(try await Self.call(server, "GET", "/api/admin/job-status/nope").status == 404)

            let logs = try await Self.call(server, "GET", "/api/admin/logs?status=failed&type=work&request=r%3C1%3E%27")
            #expect(logs.status == 200)
            let entries = try #require(logs.json["jobs"] as? [[String: Any]])
            #expect(entries.count == 1)
            #expect(entries.first?["requestId"] as? String == "r<1>'")
            let events = (entries.first?["events"] as? [[String: Any]])?.compactMap { $0["message"] as? String } ?? []
            #expect(events.contains { $0.hasPrefix("failed for good: the payload names no book") })
            let none = try await Self.call(server, "GET", "/api/admin/logs?request=%27%20OR%201%3D1%20--")
            #expect((none.json["jobs"] as? [Any])?.count == 0, "a filter of SQL matches nothing")
            #expect(none.json["total"] as? Int == 0)

            let schedules = try await Self.call(server, "GET", "/api/admin/jobs")
            let list = try #require(schedules.json["jobs"] as? [[String: Any]])
            #expect(list.first?["name"] as? String == "work" && list.first?["expression"] as? String == "1h")
            let disabled = try await Self.call(server, "PUT", "/api/admin/jobs/work", body: #"{"enabled": false, "schedule": "*/5 * * * *"}"#)
            #expect(disabled.status == 200, "\(disabled.text)")
            let changed = try #require(disabled.json["job"] as? [String: Any])
            #expect(changed["enabled"] as? Bool == false && changed["kind"] as? String == "cron")
            let bad = try await Self.call(server, "PUT", "/api/admin/jobs/work", body: #"{"schedule": "61 * * * *"}"#)
            #expect(bad.status == 400)
            #expect((bad.json["error"] as? String)?.contains("minute field: 61 is out of range") == true)
            #expect(try await Self.call(server, "PUT", "/api/admin/jobs/nope", body: #"{"enabled": true}"#).status == 404)
            #expect(try await Self.call(server, "PUT", "/api/admin/jobs/work", body: "[").status == 400)
            let triggered = try await Self.call(server, "POST", "/api/admin/jobs/work/trigger")
            #expect(triggered.status == 200)
            #expect((triggered.json["jobId"] as? String)?.hasPrefix("manual-work-") == true)

            let metrics = try await Self.call(server, "GET", "/metrics", token: nil)
            #expect(metrics.status == 200)
            #expect(metrics.text.contains(#"pipeline_jobs_total{job_type="work",outcome="failed"} 1"#), "\(metrics.text.prefix(2000))")
            #expect(metrics.text.contains("pipeline_queue_jobs{"))
            #expect(metrics.text.contains("pipeline_job_duration_seconds_bucket"))
            try await server.stop()
        }

        @Test func reloadReadsTheFileAgainAndRefusesABrokenOneSayingWhere() async throws {
            let (server, redis) = try await Self.start()
            _ = redis
            try server.pipeline.write(jobs: "work: {plugin: probe, concurrency: 0, schedule: {every: 1h}")
            let broken = try await Self.call(server, "POST", "/api/admin/reload")
            #expect(broken.status == 422 && broken.json["success"] as? Bool == false, "\(broken.text)")
            #expect((broken.json["problems"] as? [String])?.contains { $0.contains("pipeline.yaml:") } == true, "\(broken.text)")
            #expect(server.runtime.configuration.job(named: "work")?.concurrency == 1)

            try server.pipeline.write(jobs: "work: {plugin: probe, concurrency: 4, schedule: {every: 1h}}")
            #expect(try await Self.call(server, "POST", "/api/admin/reload", token: nil).status == 401)
            let applied = try await Self.call(server, "POST", "/api/admin/reload")
            #expect(applied.status == 200, "\(applied.text)")
            #expect((applied.json["changes"] as? [String: Any])?["job_types_changed"] as? [String] == ["work"])
            #expect(server.runtime.configuration.job(named: "work")?.concurrency == 4)
            try await server.stop()
        }
    }
}
