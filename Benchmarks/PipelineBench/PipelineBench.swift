import ArgumentParser
import Foundation
import Logging
import PipelineHost
import Synchronization

/// `pipeline-bench`: pipeline-host through BullMQ's four benchmark scenarios
/// (as ../shared/bench-peers runs the peers), and the host's peak memory
/// while it drains a large queue. One JSON line per result on stdout, in the
/// peers' format. bench/run runs it beside the peers on one Redis.
@main
struct PipelineBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline-bench", abstract: "Benchmark pipeline-host the way bench-peers measures its peers.")

    @Option(name: .long, help: "The Redis to use (only keys under the bench prefix are touched).")
    var redisURL: String

    @Option(name: .long, help: "Timed jobs per scenario.")
    var jobs = 10_000

    @Option(name: .long, help: "Untimed jobs first (default: jobs/10, at most 1000).")
    var warmup: Int?

    @Option(name: .long, help: "Batch size of queue-add-bulk.")
    var batch = 50

    @Option(name: .long, help: "Concurrency of worker-concurrent.")
    var concurrency = 100

    @Option(name: .long, help: "The PostgreSQL of worker-concurrent-history (a schema of its own is created and dropped).")
    var postgresURL: String?

    @Option(
        name: .long,
        help: """
            Comma list of queue-add, queue-add-bulk, worker-generic, worker-concurrent, worker-generic-isolated, \
            worker-concurrent-isolated, worker-concurrent-history, memory-drain.
            """)
    var scenarios = "queue-add,queue-add-bulk,worker-generic,worker-concurrent"

    @Option(name: .long, help: "Jobs the memory-drain scenario drains through a pipeline-host process.")
    var memoryJobs = 100_000

    func run() async throws {
        let warm = warmup ?? min(1000, jobs / 10)
        let url = try RedisURL(parsing: redisURL)
        let client = RedisClient(url: url, executor: BlockingExecutor(threads: 4), logger: Logger(label: "bench"))
        for scenario in scenarios.split(separator: ",").map(String.init) {
            let prefix = "pipelinebench\(UUID().uuidString.prefix(6).lowercased())"
            defer { Task { await Self.deleteKeys(prefix, client) } }
            let line: BenchResult
            switch scenario {
            case "queue-add":
                line = try await addScenario(client, prefix: prefix, warm: warm, bulk: false)
            case "queue-add-bulk":
                line = try await addScenario(client, prefix: prefix, warm: warm, bulk: true)
            case "worker-generic":
                line = try await drainScenario(client, prefix: prefix, warm: warm, concurrency: 1)
            case "worker-concurrent":
                line = try await drainScenario(client, prefix: prefix, warm: warm, concurrency: concurrency)
            case "worker-generic-isolated":
                line = try await drainScenario(client, prefix: prefix, warm: warm, concurrency: 1, isolated: true)
            case "worker-concurrent-isolated":
                line = try await drainScenario(client, prefix: prefix, warm: warm, concurrency: concurrency, isolated: true)
            case "worker-concurrent-history":
                guard let postgresURL else { throw ValidationError("worker-concurrent-history needs --postgres-url") }
                line = try await drainScenario(
                    client, prefix: prefix, warm: warm, concurrency: concurrency, postgres: (postgresURL, "bench_\(prefix)"))
            case "memory-drain":
                line = try await memoryScenario(client, prefix: prefix)
            default:
                throw ValidationError("unknown scenario \(scenario)")
            }
            print(line.json)
            fflush(nil)
            await Self.deleteKeys(prefix, client)
        }
    }

    // MARK: - Scenarios

    func addScenario(_ client: RedisClient, prefix: String, warm: Int, bulk: Bool) async throws -> BenchResult {
        let queue = JobQueue(name: "bench", prefix: prefix, client: client)
        func add(_ range: Range<Int>) async throws {
            if bulk {
                for start in stride(from: range.lowerBound, to: range.upperBound, by: batch) {
                    let slice = start..<min(start + batch, range.upperBound)
                    _ = try await queue.addBulk(slice.map { (nil, "{\"i\":\($0)}", JobOptions()) })
                }
            } else {
                for index in range { _ = try await queue.add(dataJSON: "{\"i\":\(index)}") }
            }
        }
        try await add(0..<warm)
        let started = ContinuousClock.now
        try await add(warm..<(warm + jobs))
        let seconds = (ContinuousClock.now - started).seconds
        let waiting = try await queue.counts()[.waiting] ?? 0
        guard waiting == warm + jobs else { throw ValidationError("expected \(warm + jobs) waiting, found \(waiting)") }
        let how =
            bulk
            ? "JobQueue.addBulk of \(batch) jobs (one pipelined round trip of \(batch) add-script calls), awaited one batch after another"
            : "JobQueue.add awaited one by one (one add-script call each)"
        return BenchResult(
            scenario: bulk ? "queue-add-bulk" : "queue-add", jobs: jobs, concurrency: 1, seconds: seconds,
            note: "\(how); \(warm) untimed warm-up adds first; verified \(warm + jobs) jobs waiting")
    }

    func drainScenario(
        _ client: RedisClient, prefix: String, warm: Int, concurrency: Int, postgres: (url: String, schema: String)? = nil,
        isolated: Bool = false
    ) async throws -> BenchResult {
        let queue = JobQueue(name: "bench", prefix: prefix, client: client)
        try await prefill(queue, count: warm + jobs)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pipeline-bench-\(prefix)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = try Self.writePipeline(
            directory: directory, redis: redisURL, prefix: prefix, concurrency: concurrency, postgres: postgres, isolated: isolated)
        let validated = try await PipelineValidator(startsPlugins: false, logger: Logger(label: "bench")).validated(file: file)
        var logger = Logger(label: "pipeline-host")
        logger.logLevel = .warning
        let runtime = try await PipelineRuntime.start(validated, hostID: "bench", logger: logger)
        if let history = runtime.postgres {
            try await Migrations.run(on: history)
        }
        let counters = runtime.counters(for: "bench")!
        let marks = Mutex<(start: ContinuousClock.Instant?, end: ContinuousClock.Instant?)>((nil, nil))
        let total = warm + jobs
        let finished = AsyncStream<Void>.makeStream()
        counters.observeCompleted { count in
            let now = ContinuousClock.now
            let done = marks.withLock { marks -> Bool in
                if marks.start == nil, count >= warm { marks.start = now }
                if marks.end == nil, count >= total { marks.end = now }
                return marks.end != nil
            }
            if done { finished.continuation.finish() }
        }
        let started = ContinuousClock.now
        if warm == 0 { marks.withLock { $0.start = started } }
        let running = Task { try await runtime.run() }
        for await _ in finished.stream {}
        runtime.beginStop()
        try await running.value
        var written = ""
        if let history = runtime.postgres {
            let rows = try await history.query("SELECT count(*) FROM jobs WHERE status = 'completed'")
            written = "; history on: \(rows[0, "count"] ?? "?") jobs rows written to PostgreSQL (batched, off the hot path)"
            try await history.query("DROP SCHEMA \(history.schema) CASCADE")
        }
        let (start, end) = marks.withLock { ($0.start!, $0.end!) }
        let completed = try await queue.counts()[.completed] ?? 0
        guard completed == total else { throw ValidationError("expected \(total) completed, found \(completed)") }
        let scenario =
            postgres != nil ? "worker-concurrent-history" : (concurrency == 1 ? "worker-generic" : "worker-concurrent") + (isolated ? "-isolated" : "")
        return BenchResult(
            scenario: scenario, jobs: jobs, concurrency: concurrency,
            seconds: (end - start).seconds,
            note: "pipeline-host worker (concurrency \(concurrency)) running the no-op C plugin through the ABI "
                + (isolated ? "in a runner process (isolation: process); " : "in the host (isolation: none); ")
                + "timed from the finish of job \(warm) (after \(warm) untimed warm-up jobs) to that of job \(total), "
                + "as the host saw the finish script return; verified completed=\(total) in Redis; completed jobs kept\(written)")
    }

    /// Drains `memoryJobs` through a real `pipeline-host run` process and reads its peak RSS.
    func memoryScenario(_ client: RedisClient, prefix: String) async throws -> BenchResult {
        let queue = JobQueue(name: "bench", prefix: prefix, client: client)
        try await prefill(queue, count: memoryJobs)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pipeline-bench-\(prefix)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = try Self.writePipeline(
            directory: directory, redis: redisURL, prefix: prefix, concurrency: concurrency, keepCompleted: 100)
        let host = Process()
        host.executableURL = URL(fileURLWithPath: ProductsDirectory.path + "/pipeline-host")
        host.arguments = ["run", "--config", file, "--host-id", "bench-memory", "--log-level", "warning"]
        let started = ContinuousClock.now
        try host.run()
        var peak = 0
        var done = false
        while !done {
            try await Task.sleep(for: .milliseconds(100))
            peak = max(peak, Self.peakRSSKilobytes(of: host.processIdentifier))
            let counts = try await queue.counts()
            done = (counts[.waiting] ?? 0) == 0 && (counts[.active] ?? 0) == 0
            guard host.isRunning else { throw ValidationError("pipeline-host exited early") }
        }
        let seconds = (ContinuousClock.now - started).seconds
        peak = max(peak, Self.peakRSSKilobytes(of: host.processIdentifier))
        kill(host.processIdentifier, SIGKILL)
        host.waitUntilExit()
        var result = BenchResult(
            scenario: "memory-drain", jobs: memoryJobs, concurrency: concurrency, seconds: seconds,
            note: "a pipeline-host run process (\(ProductsDirectory.path.contains("/release") ? "release" : "debug") build) drained \(memoryJobs) prefilled no-op jobs at concurrency "
                + "\(concurrency), keeping the last 100 completed; peak RSS is its VmHWM; seconds include its start-up")
        result.peakRSSMegabytes = Double(peak) / 1024
        return result
    }

    // MARK: - Helpers

    func prefill(_ queue: JobQueue, count: Int) async throws {
        for start in stride(from: 0, to: count, by: 1000) {
            _ = try await queue.addBulk((start..<min(start + 1000, count)).map { (nil, "{\"i\":\($0)}", JobOptions()) })
        }
    }

    static func writePipeline(
        directory: String, redis: String, prefix: String, concurrency: Int, keepCompleted: Int? = nil,
        postgres: (url: String, schema: String)? = nil, isolated: Bool = false
    ) throws -> String {
        let keep = keepCompleted.map(String.init) ?? "all"
        let history = postgres.map { "{url: \"\($0.url)\", schema: \($0.schema)}" } ?? "{enabled: false}"
        let text = """
            redis: {url: "\(redis)", prefix: \(prefix)}
            postgres: \(history)
            plugins:
              noop: {path: "\(ProductsDirectory.path)/libBenchNoop.so", isolation: \(isolated ? "process" : "none")}
            jobs:
              bench: {plugin: noop, concurrency: \(concurrency), attempts: 1, retention: {completed: \(keep), failed: all}}
            """
        let file = directory + "/pipeline.yaml"
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    static func peakRSSKilobytes(of pid: Int32) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "0") ?? 0
        }
        return 0
    }

    static func deleteKeys(_ prefix: String, _ client: RedisClient) async {
        var cursor = "0"
        repeat {
            guard let reply = try? await client.send(["SCAN", cursor, "MATCH", "\(prefix):*", "COUNT", "1000"]),
                reply.elements.count == 2
            else { return }
            cursor = reply.elements[0].text ?? "0"
            let keys = reply.elements[1].elements.compactMap(\.text)
            if !keys.isEmpty { _ = try? await client.send(["UNLINK"] + keys) }
        } while cursor != "0"
    }
}

/// One line of output, in bench-peers' format.
struct BenchResult: Encodable {
    var system = "pipeline-host"
    var version = "0.1.0"
    var scenario: String
    var jobs: Int
    var concurrency: Int
    var seconds: Double
    var jobsPerSecond: Double
    var peakRSSMegabytes: Double?
    var note: String

    init(scenario: String, jobs: Int, concurrency: Int, seconds: Double, note: String) {
        self.scenario = scenario
        self.jobs = jobs
        self.concurrency = concurrency
        self.seconds = (seconds * 1000).rounded() / 1000
        jobsPerSecond = (Double(jobs) / seconds * 10).rounded() / 10
        self.note = note
    }

    enum CodingKeys: String, CodingKey {
        case system, version, scenario, jobs, concurrency, seconds, note
        case jobsPerSecond = "jobs_per_sec"
        case peakRSSMegabytes = "peak_rss_mb"
    }

    var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try! encoder.encode(self), as: UTF8.self)
    }
}

extension Duration {
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
