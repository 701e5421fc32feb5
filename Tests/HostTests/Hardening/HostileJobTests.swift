import Foundation
@testable import PipelineHost
import Testing

/// Jobs written by another BullMQ producer that no host could run, and ids
/// that would land on a queue's own keys, against a real `pipeline-host run`:
/// each costs at most its own job, never the host or another job type.
@Suite struct HostileJobTests {
    static let jobs = """
          work: {plugin: probe, concurrency: 2, attempts: 2, backoff: {type: fixed, delay: 100ms}}
          other: {plugin: probe, concurrency: 1}
        """

    /// Writes a job the way any BullMQ producer may: its hash, then `wait` and the marker.
    static func produce(_ queue: JobQueue, id: String, data: String, opts: String, extra: [String] = []) async throws {
        _ = try await queue.client.pipeline([
            ["HSET", queue.key(id), "name", queue.name, "data", data, "opts", opts, "timestamp", String(JobQueue.nowMilliseconds)] + extra,
            ["LPUSH", queue.key("wait"), id],
            ["ZADD", queue.key("marker"), "0", "0"],
        ])
    }

    /// Hardening #1: options with numbers that overflow when the job finishes
    /// (retention age, backoff) killed every host that took the job.
    @Test func aPoisonJobFailsAloneAndTheHostKeepsServing() async throws {
        let pipeline = try await HostedPipeline(jobs: Self.jobs)
        let work = try pipeline.queue("work")
        try await Self.produce(
            work, id: "age-bomb", data: #"{"mode":"probe"}"#, opts: #"{"removeOnComplete":{"age":9223372036854775807}}"#)
        // Stalled too often, with a retention no arithmetic survives: the "fail it at once" path.
        try await Self.produce(
            work, id: "fail-at-once", data: #"{"mode":"probe"}"#, opts: #"{"removeOnFail":{"age":9223372036854775807}}"#,
            extra: ["defa", "job stalled more than allowable limit"])
        // A backoff of 300 000 000 000 ms after 70 attempts: ×2^69 overflows any clock.
        try await Self.produce(
            work, id: "backoff-bomb", data: #"{"mode":"probe","fail_until_attempt":1000}"#,
            opts: #"{"attempts":100,"backoff":{"type":"exponential","delay":300000000000}}"#, extra: ["atm", "70"])

        try await eventually("the age bomb failed") { try await work.job("age-bomb")?.state == .failed }
        let ageBomb = try #require(try await work.job("age-bomb"))
        #expect(ageBomb.failedReason?.contains("opts.removeOnComplete.age 9223372036854775807 is outside") == true, "\(ageBomb.failedReason ?? "")")
        try await eventually("the fail-at-once job failed") { try await work.job("fail-at-once")?.state == .failed }
        #expect(try await work.job("fail-at-once")?.failedReason?.contains("opts.removeOnFail.age") == true)
        try await eventually("the backoff bomb was retried later") { try await work.job("backoff-bomb")?.state == .delayed }
        let delayed = try #require(try await work.job("backoff-bomb"))
        #expect(Int64(delayed.fields["delay"] ?? "") == JobLimits.maximumDelayMilliseconds, "the delay saturates at ten years")

        #expect(await pipeline.isServing(), "the host is still up")
        try await pipeline.completesAJob(of: "work")
        try await pipeline.completesAJob(of: "other")
        let history = try await pipeline.stores.postgres.query(
            "SELECT error_message FROM jobs WHERE job_id = 'age-bomb' AND status = 'failed'").rows
        #expect(history.first?.first??.contains("opts.removeOnComplete.age") == true, "the history says why: \(history)")
        try await pipeline.stop()
    }

    /// Hardening #3: an id equal to a queue key name is refused by the CLI,
    /// the add script and plugins; a queue another producer damaged that way
    /// is reported, backed off from, and costs only its own job type.
    @Test func reservedIDsAreRefusedAndADamagedQueueIsReportedNotRetriedInSilence() async throws {
        let pipeline = try await HostedPipeline(jobs: Self.jobs)
        let work = try pipeline.queue("work")

        let cli = try await CommandLineTests.run(["enqueue", "work", "--config", pipeline.file, "--job-id", "wait"])
        #expect(cli.status == 1 && cli.errors.contains("job id 'wait' is the name of one of the queue's own keys"), "\(cli.errors)")
        // The add script itself refuses, for producers that call it directly.
        let keys = ["wait", "meta", "id", "delayed", "prioritized", "pc", "events", "marker", "active"].map(work.key)
        await #expect(throws: RedisError.self) {
            _ = try await work.client.run(
                QueueScripts.add, keys: keys,
                arguments: [work.keyPrefix, "active", "work", "{}", "{}", String(JobQueue.nowMilliseconds), "0", "0", "0"])
        }
        #expect(try await work.client.send(["EXISTS", work.key("active")]) == .integer(0), "nothing was written")

        // Another producer's own script wrote a job hash where `wait` belongs.
        _ = try await work.client.send(["HSET", work.key("wait"), "name", "work", "data", "{}", "opts", "{}"])
        _ = try await work.client.send(["ZADD", work.key("marker"), "0", "0"])
        try await eventually("the host says why the queue fails") {
            pipeline.host.output.contains("the queue's script fails") && pipeline.host.output.contains("WRONGTYPE")
        }
        #expect(pipeline.host.output.contains("TYPE \(work.keyPrefix)<name>"), "the log line says how to find the stray key")
        let metrics = try await rawRequest(port: pipeline.adminPort, "GET", "/metrics")
        #expect(metrics.body.contains(#"pipeline_queue_script_errors_total{job_type="work"}"#), "\(metrics.body.prefix(400))")
        let (cookie, _) = try await pipeline.signIn()
        let queues = try await rawRequest(port: pipeline.adminPort, "GET", "/admin/queues", headers: ["Cookie": cookie])
        #expect(queues.status == 200 && queues.body.contains("failing") && queues.body.contains("WRONGTYPE"))
        // Other job types go on.
        try await pipeline.completesAJob(of: "other")
        #expect(await pipeline.isServing())
        // Backed off, not retried five times a second: few failures in the time the log took to show them.
        let failures = pipeline.host.output.components(separatedBy: "the queue's script fails").count - 1
        #expect(failures <= 2, "one line for the first failure (then every 30th): \(failures)")

        // Repaired, the queue works again.
        _ = try await work.client.send(["DEL", work.key("wait")])
        try await pipeline.completesAJob(of: "work")
        #expect(pipeline.host.output.contains("the queue's script works again"))
        try await pipeline.stop()
    }
}
