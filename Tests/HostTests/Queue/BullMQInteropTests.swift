import Foundation
import PipelineHost
import Testing

/// Interop with the official `bullmq` Python package (3.4.4, installed by
/// scripts/install-deps into .build-python/venv), both ways, through
/// Tests/Interop/bullmq_interop.py. Serialized with the other in-process
/// queue tests: they share the fixture's probe counters.
extension InProcessQueueTests {
    @Suite struct BullMQInteropTests {
        static let python = ProcessInfo.processInfo.environment["PIPELINE_TEST_PYTHON"]
            ?? packageRoot + "/.build-python/venv/bin/python"

        /// Runs the driver and decodes its JSON output.
        static func bullmq(_ command: String, _ redis: RedisServer, prefix: String, queue: String, _ extra: [String] = [])
            async throws -> Any
        {
            let url = redis.url
            let data = try await onOwnThread { try runDriver(command, url, prefix: prefix, queue: queue, extra) }
            return try JSONSerialization.jsonObject(with: data)
        }

        static func runDriver(_ command: String, _ url: String, prefix: String, queue: String, _ extra: [String])
            throws -> Data
        {
            guard FileManager.default.isExecutableFile(atPath: python) else {
                throw TestFailure("no Python venv with bullmq at \(python); run scripts/install-deps")
            }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: python)
            process.arguments = [
                packageRoot + "/Tests/Interop/bullmq_interop.py", command, "--redis", url, "--prefix", prefix,
                "--queue", queue,
            ] + extra
            let output = Pipe()
            let errors = Pipe()
            process.standardOutput = output
            process.standardError = errors
            try process.run()
            let data = output.fileHandleForReading.readDataToEndOfFile()
            let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw TestFailure("bullmq \(command) failed: \(errorText)") }
            return data
        }

        static func json(_ value: Any) -> String {
            String(decoding: try! JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]), as: UTF8.self)
        }

        @Test func jobsAddedByPythonAreProcessedInOrderWithTheirOwnRetriesAndRetention() async throws {
            let redis = try RedisServer()
            let pipeline = try QueueTestPipeline(
                redis: redis,
                jobs: """
                    work: {plugin: probe, concurrency: 1}
                      slow: {plugin: probe, concurrency: 1}
                    """)
            let probe: [String: Any] = ["mode": "probe"]
            let jobs: [[String: Any]] = [
                ["data": probe, "opts": ["priority": 3]],
                ["data": probe],
                ["data": probe, "opts": ["delay": 1500]],
                ["data": probe, "opts": ["jobId": "order-42"]],
                ["data": probe, "opts": ["priority": 1]],
                ["data": ["mode": "probe", "fail_until_attempt": 3],
                 "opts": ["attempts": 3, "backoff": ["type": "exponential", "delay": 300]]],
                ["data": probe],
                ["data": ["mode": "fail"], "opts": ["attempts": 5]],
            ]
            let ids = try await Self.bullmq("add", redis, prefix: pipeline.prefix, queue: "work", ["--jobs", Self.json(jobs)]) as! [String]
            let (p3, a1, delayed, custom, p1, retried, a2, failing) = (ids[0], ids[1], ids[2], ids[3], ids[4], ids[5], ids[6], ids[7])
            #expect(custom == "order-42")
            let retention: [[String: Any]] =
                Array(repeating: ["data": probe, "opts": ["removeOnComplete": ["count": 1]]], count: 3)
                + Array(repeating: ["data": ["mode": "fail"], "opts": ["removeOnFail": 1]], count: 2)
            _ = try await Self.bullmq("add", redis, prefix: pipeline.prefix, queue: "slow", ["--jobs", Self.json(retention)])

            let client = try testClient(redis)
            let queue = pipeline.queue(client: client)
            let runtime = try await pipeline.runtime()
            let running = Task { try await runtime.run() }
            try await InProcessQueueTests.QueueBehaviourTests.finished(queue, count: 8)
            try await eventually("slow queue done") { try await InProcessQueueTests.QueueBehaviourTests.finishedEvents(pipeline.queue("slow", client: client), client) == 5 }
            runtime.beginStop()
            try await running.value

            let activations = try await InProcessQueueTests.QueueBehaviourTests.activations(queue, client)
            var firstSeen: [String] = []
            for activation in activations where !firstSeen.contains(activation.id) { firstSeen.append(activation.id) }
            // The ready jobs in BullMQ's order; the delayed one whenever it came due (never before).
            #expect(firstSeen.filter { $0 != delayed } == [a1, custom, retried, a2, failing, p1, p3])
            let delayedJob = try #require(try await queue.job(delayed))
            let due = try #require(delayedJob.createdAt).addingTimeInterval(1.5)
            #expect(try #require(delayedJob.processedAt) >= due)
            let retries = activations.filter { $0.id == retried }.map(\.ms)
            try #require(retries.count == 3)
            #expect(retries[1] - retries[0] >= 300 && retries[1] - retries[0] < 800, "first retry after \(retries[1] - retries[0]) ms")
            #expect(retries[2] - retries[1] >= 600 && retries[2] - retries[1] < 1100, "second retry after \(retries[2] - retries[1]) ms")

            let report = try await Self.bullmq("inspect", redis, prefix: pipeline.prefix, queue: "work", ["--ids", Self.json(ids)]) as! [String: Any]
            let read = report["jobs"] as! [String: [String: Any]]
            for id in [p3, a1, delayed, custom, p1, a2] {
                #expect(read[id]?["state"] as? String == "completed", "\(id)")
                #expect(read[id]?["attemptsMade"] as? Int == 1)
            }
            #expect(read[retried]?["state"] as? String == "completed")
            #expect(read[retried]?["attemptsMade"] as? Int == 3)
            #expect((read[retried]?["returnvalue"] as? [String: Any])?["attempt"] as? Int == 3)
            #expect(read[failing]?["state"] as? String == "failed")
            #expect(read[failing]?["attemptsMade"] as? Int == 1, "a permanent failure is not retried")
            #expect(read[failing]?["failedReason"] as? String == "the payload names no book")

            let slow = try await Self.bullmq("inspect", redis, prefix: pipeline.prefix, queue: "slow") as! [String: Any]
            let counts = slow["counts"] as! [String: Int]
            #expect(counts["completed"] == 1 && counts["failed"] == 1, "\(counts)")
        }

        @Test func jobsAddedByTheHostAreReadByPythonAndRunByAPythonWorker() async throws {
            let redis = try RedisServer()
            let pipeline = try QueueTestPipeline(redis: redis, jobs: "work: {plugin: probe, concurrency: 1}")
            let client = try testClient(redis)
            let queue = pipeline.queue(client: client)
            let options = JobOptions(attempts: 3, backoff: Backoff(strategy: .exponential, delay: .seconds(2)))
            let plain = try await queue.add(dataJSON: #"{"mode":"probe"}"#, options: options)
            let prioritized = try await queue.add(dataJSON: #"{"mode":"probe"}"#, options: JobOptions(priority: 2))
            let delayed = try await queue.add(dataJSON: #"{"mode":"probe"}"#, options: JobOptions(delay: .seconds(60)))
            let custom = try await queue.add(dataJSON: #"{"mode":"fail"}"#, options: JobOptions(jobID: "host-1"))

            let before = try await Self.bullmq(
                "inspect", redis, prefix: pipeline.prefix, queue: "work", ["--ids", Self.json([plain, prioritized, delayed, custom])])
                as! [String: Any]
            let counts = before["counts"] as! [String: Int]
            #expect(counts["wait"] == 2 && counts["prioritized"] == 1 && counts["delayed"] == 1, "\(counts)")
            let jobs = before["jobs"] as! [String: [String: Any]]
            #expect(jobs[plain]?["state"] as? String == "waiting")
            #expect(jobs[prioritized]?["state"] as? String == "prioritized")
            #expect(jobs[delayed]?["state"] as? String == "delayed")
            #expect((jobs[plain]?["opts"] as? [String: Any])?["attempts"] as? Int == 3)
            #expect((jobs[plain]?["data"] as? [String: Any])?["mode"] as? String == "probe")

            let runtime = try await pipeline.runtime()
            let running = Task { try await runtime.run() }
            try await InProcessQueueTests.QueueBehaviourTests.finished(queue, count: 3)
            runtime.beginStop()
            try await running.value

            let after = try await Self.bullmq(
                "inspect", redis, prefix: pipeline.prefix, queue: "work", ["--ids", Self.json([plain, prioritized, custom])])
                as! [String: Any]
            let finished = after["jobs"] as! [String: [String: Any]]
            #expect(finished[plain]?["state"] as? String == "completed")
            #expect(finished[plain]?["attemptsMade"] as? Int == 1)
            #expect((finished[plain]?["returnvalue"] as? [String: Any])?["attempt"] as? Int == 1)
            #expect(finished[custom]?["state"] as? String == "failed")
            #expect(finished[custom]?["failedReason"] as? String == "the payload names no book")
            #expect((after["counts"] as! [String: Int])["completed"] == 2)

            // A Python Worker runs a job the host added.
            let pythonQueue = pipeline.queue("py", client: client)
            let forPython = try await pythonQueue.add(dataJSON: #"{"hello":"python"}"#)
            _ = try await Self.bullmq("work", redis, prefix: pipeline.prefix, queue: "py", ["--count", "1"])
            let done = try #require(try await pythonQueue.job(forPython))
            #expect(done.state == .completed)
            let returned = try JSONSerialization.jsonObject(with: Data((done.returnValue ?? "").utf8)) as? [String: Any]
            #expect(returned?["by"] as? String == "python")
            #expect((returned?["data"] as? [String: Any])?["hello"] as? String == "python")
            #expect(done.attemptsMade == 1)
        }
    }
}
