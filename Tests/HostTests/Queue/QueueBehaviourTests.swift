import Foundation
import PipelineHost
import Testing

/// The tests that run the host in this process with the C fixture's probe,
/// whose counters are process-wide: they run one at a time.
@Suite(.serialized) struct InProcessQueueTests {}

/// The host's queue behaviour, with a real Redis and the C fixture plugin in
/// this process. Serialized: the fixture's probe counts running jobs across
/// the whole process.
extension InProcessQueueTests {
    @Suite struct QueueBehaviourTests {
        /// The ids of a queue's `active` events, in the order Redis recorded them,
        /// with their times (stream ids are milliseconds).
        static func activations(_ queue: JobQueue, _ client: RedisClient) async throws -> [(id: String, ms: Int64)] {
            let reply = try await client.send(["XRANGE", queue.key("events"), "-", "+"])
            return reply.elements.compactMap { entry in
                let parts = entry.elements
                guard parts.count == 2, let streamID = parts[0].text, let ms = Int64(streamID.split(separator: "-")[0]) else {
                    return nil
                }
                let fields = parts[1].elements.compactMap(\.text)
                guard fields.count >= 4, fields[0] == "event", fields[1] == "active", fields[2] == "jobId" else { return nil }
                return (fields[3], ms)
            }
        }

        /// How many `completed` and `failed` events the queue's stream holds.
        static func finishedEvents(_ queue: JobQueue, _ client: RedisClient) async throws -> Int {
            let reply = try await client.send(["XRANGE", queue.key("events"), "-", "+"])
            return reply.elements.filter { entry in
                let fields = entry.elements.last?.elements.compactMap(\.text) ?? []
                return fields.count >= 2 && (fields[1] == "completed" || fields[1] == "failed")
            }.count
        }

        static func finished(_ queue: JobQueue, count: Int) async throws {
            try await eventually("\(count) jobs finished") {
                let counts = try await queue.counts()
                return (counts[.completed] ?? 0) + (counts[.failed] ?? 0) >= count
            }
        }

        @Test func orderIsFIFOBeforePrioritizedThenByPriorityAndDelayedOnlyWhenDue() async throws {
            let redis = try RedisServer()
            let pipeline = try QueueTestPipeline(redis: redis, jobs: "work: {plugin: probe, concurrency: 1}")
            let client = try testClient(redis)
            let queue = pipeline.queue(client: client)
            let probe = #"{"mode":"probe"}"#
            let delayed = try await queue.add(dataJSON: probe, options: JobOptions(delay: .milliseconds(1500)))
            let p5a = try await queue.add(dataJSON: probe, options: JobOptions(priority: 5))
            let p1a = try await queue.add(dataJSON: probe, options: JobOptions(priority: 1))
            let fifo1 = try await queue.add(dataJSON: probe)
            let p5b = try await queue.add(dataJSON: probe, options: JobOptions(priority: 5))
            let fifo2 = try await queue.add(dataJSON: probe)
            let p1b = try await queue.add(dataJSON: probe, options: JobOptions(priority: 1))
            let lifo = try await queue.add(dataJSON: probe, options: JobOptions(lifo: true, jobID: "lifo-job"))

            let runtime = try await pipeline.runtime()
            let running = Task { try await runtime.run() }
            try await Self.finished(queue, count: 8)
            runtime.beginStop()
            try await running.value

            // The ready jobs in BullMQ's order; the delayed one whenever it came due (never before).
            let order = try await Self.activations(queue, client).map(\.id)
            #expect(order.filter { $0 != delayed } == [lifo, fifo1, fifo2, p1a, p1b, p5a, p5b])
            #expect(order.contains(delayed))
            let job = try #require(try await queue.job(delayed))
            let due = try #require(job.createdAt).addingTimeInterval(1.5)
            #expect(try #require(job.processedAt) >= due)
        }

        @Test func failingTwiceThenSucceedingCompletesWithRetryDelaysOfTwoAndFourSeconds() async throws {
            let redis = try RedisServer()
            let pipeline = try QueueTestPipeline(redis: redis)  // defaults: 3 attempts, exponential from 2 s
            let client = try testClient(redis)
            let queue = pipeline.queue(client: client)
            let runtime = try await pipeline.runtime()
            let running = Task { try await runtime.run() }
            let id = try await runtime.enqueue("work", payloadJSON: #"{"mode":"probe","fail_until_attempt":3}"#)
            try await Self.finished(queue, count: 1)
            runtime.beginStop()
            try await running.value

            let job = try #require(try await queue.job(id))
            #expect(job.state == .completed)
            #expect(job.attemptsMade == 3)
            #expect(job.returnValue?.contains(#""attempt":3"#) == true)
            let times = try await Self.activations(queue, client).filter { $0.id == id }.map(\.ms)
            try #require(times.count == 3)
            let first = Double(times[1] - times[0]) / 1000
            let second = Double(times[2] - times[1]) / 1000
            #expect(first >= 2.0 && first < 3.0, "first retry after \(first) s")
            #expect(second >= 4.0 && second < 5.0, "second retry after \(second) s")
            #expect(job.fields["stacktrace"]?.contains("probe: failing this attempt on purpose") == true)
        }

        @Test func permanentFailureIsNotRetriedAndTimeoutCountsAsAFailedAttempt() async throws {
            let redis = try RedisServer()
            let pipeline = try QueueTestPipeline(
                redis: redis,
                jobs: """
                    work: {plugin: probe, attempts: 3}
                      slow: {plugin: probe, attempts: 2, timeout: 200ms, backoff: {type: fixed, delay: 100ms}}
                    """)
            let client = try testClient(redis)
            let runtime = try await pipeline.runtime()
            let running = Task { try await runtime.run() }
            let failing = try await runtime.enqueue("work", payloadJSON: #"{"mode":"fail"}"#)
            let timing = try await runtime.enqueue("slow", payloadJSON: #"{"mode":"wait_cancel"}"#)
            try await Self.finished(pipeline.queue(client: client), count: 1)
            try await Self.finished(pipeline.queue("slow", client: client), count: 1)
            runtime.beginStop()
            try await running.value

            let failed = try #require(try await pipeline.queue(client: client).job(failing))
            #expect(failed.state == .failed)
            #expect(failed.attemptsMade == 1)
            #expect(failed.failedReason == "the payload names no book")
            let timedOut = try #require(try await pipeline.queue("slow", client: client).job(timing))
            #expect(timedOut.state == .failed)
            #expect(timedOut.attemptsMade == 2)
            #expect(timedOut.failedReason?.hasPrefix("timed out after 200ms") == true)
        }

        @Test func neverMoreThanConcurrencyJobsAtOnceAndThatManyWhileWorkWaits() async throws {
            let redis = try RedisServer()
            let pipeline = try QueueTestPipeline(redis: redis, jobs: "work: {plugin: probe, concurrency: 3}")
            let client = try testClient(redis)
            let queue = pipeline.queue(client: client)
            let ids = try await queue.addBulk((0..<12).map { _ in (nil, #"{"mode":"probe","sleep_ms":250}"#, JobOptions()) })
            let runtime = try await pipeline.runtime()
            let running = Task { try await runtime.run() }
            try await Self.finished(queue, count: 12)
            runtime.beginStop()
            try await running.value

            var concurrencies: [Int] = []
            for id in ids {
                let job = try #require(try await queue.job(id))
                let result = try JSONSerialization.jsonObject(with: Data((job.returnValue ?? "{}").utf8)) as? [String: Any]
                concurrencies.append(result?["running"] as? Int ?? 0)
            }
            #expect(concurrencies.max() == 3, "\(concurrencies)")
        }

        @Test func followUpsAreAddedWhenTheJobIsDoneAndOnlyOnce() async throws {
            let redis = try RedisServer()
            let pipeline = try QueueTestPipeline(redis: redis, jobs: "echo: {plugin: probe}")
            let client = try testClient(redis)
            let queue = pipeline.queue("echo", client: client)
            let runtime = try await pipeline.runtime()
            let running = Task { try await runtime.run() }
            let parent = try await runtime.enqueue("echo", payloadJSON: #"{"mode":"effects"}"#)
            try await Self.finished(queue, count: 1)
            let followUp = try #require(try await queue.job("fu-echo-\(parent)-1"))
            #expect(followUp.state == .delayed)
            #expect(followUp.dataJSON == #"{"mode":"done"}"#)
            // Adding the same follow-up again (a rerun after a crash) adds nothing.
            _ = try await queue.add(dataJSON: #"{"mode":"other"}"#, options: JobOptions(jobID: "fu-echo-\(parent)-1"))
            #expect(try await queue.job("fu-echo-\(parent)-1")?.dataJSON == #"{"mode":"done"}"#)
            runtime.beginStop()
            try await running.value
        }

        @Test func rescheduleBringsTheSameJobBackWithNewDataAndNoAttemptCounted() async throws {
            let redis = try RedisServer()
            let pipeline = try QueueTestPipeline(redis: redis, jobs: "echo: {plugin: probe}")
            let client = try testClient(redis)
            let queue = pipeline.queue("echo", client: client)
            let runtime = try await pipeline.runtime()
            let running = Task { try await runtime.run() }
            let id = try await runtime.enqueue("echo", payloadJSON: #"{"mode":"reschedule"}"#)
            try await eventually("rescheduled") { try await queue.job(id)?.state == .delayed }
            runtime.beginStop()
            try await running.value
            let job = try #require(try await queue.job(id))
            #expect(job.dataJSON == #"{"polls":1}"#)
            #expect(job.attemptsMade == 0)
            #expect(job.fields["delay"] == "10000")
            #expect(try await queue.counts()[.delayed] == 1)
        }

        @Test func retentionKeepsTheNewestFinishedJobs() async throws {
            let redis = try RedisServer()
            let pipeline = try QueueTestPipeline(
                redis: redis, jobs: "work: {plugin: probe, retention: {completed: 2, failed: 1}, attempts: 1}")
            let client = try testClient(redis)
            let queue = pipeline.queue(client: client)
            let runtime = try await pipeline.runtime()
            let running = Task { try await runtime.run() }
            for _ in 0..<5 { _ = try await runtime.enqueue("work", payloadJSON: #"{"mode":"probe"}"#) }
            for _ in 0..<3 { _ = try await runtime.enqueue("work", payloadJSON: #"{"mode":"fail"}"#) }
            try await eventually("all 8 finished") { try await Self.finishedEvents(queue, client) == 8 }
            let counts = try await queue.counts()
            #expect(counts[.completed] == 2)
            #expect(counts[.failed] == 1)
            runtime.beginStop()
            try await running.value
            let keys = try await client.send(["KEYS", queue.key("*")]).elements.compactMap(\.text)
            let jobHashes = keys.filter { key in
                let suffix = key.dropFirst(queue.keyPrefix.count)
                return !suffix.contains(":") && Int(suffix) != nil
            }
            #expect(jobHashes.count == 3, "\(jobHashes)")
        }
    }
}
