import Foundation
import Glibc
@testable import PipelineHost
import Testing

/// Plugins that crash, hang or grow, run out of process (the default), on a
/// real `pipeline-host run`: each costs attempts of its own jobs, never the
/// host (docs/plugin-isolation.md).
@Suite struct IsolationDrillTests {
    /// The pid in a probe job's result.
    static func pid(of job: JobSnapshot?) -> Int32? {
        guard let text = job?.returnValue, let match = text.firstMatch(of: /"pid":(\d+)/) else { return nil }
        return Int32(match.1)
    }

    /// The host's threads (from /proc).
    static func threads(_ pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("Threads:") } ?? ""
        return Int(line.split(separator: "\t").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "") ?? 0
    }

    static func resident(_ pid: Int32) -> Int64 {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return (Int64(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
    }

    /// The processes whose parent is `pid`.
    static func children(of pid: Int32) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { child in
            guard let stat = try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 2 && fields[0] != "Z" && Int32(fields[1]) == pid
        }
    }

    /// Whether `pid` is gone (or only a zombie waiting for its parent).
    static func isGone(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else {
            return true
        }
        return stat[stat.index(after: close)...].split(separator: " ").first == "Z"
    }

    @Test func aCrashingPluginCostsOnlyItsJobsAndAPoisonJobFailsAfterItsCrashes() async throws {
        let pipeline = try await HostedPipeline(
            jobs: """
                  crash_now: {plugin: probe, attempts: 10, backoff: {type: fixed, delay: 100ms}}
                  slow_ok: {plugin: probe, concurrency: 4, attempts: 5, backoff: {type: fixed, delay: 100ms}}
                """)
        let slow = try pipeline.queue("slow_ok")
        let crash = try pipeline.queue("crash_now")
        let slowJobs = try await slow.addBulk((0..<4).map { _ in (nil, #"{"mode":"probe","sleep_ms":1500}"#, JobOptions()) })
        try await eventually("4 slow jobs in flight") { (try await slow.counts()[.active] ?? 0) == 4 }
        let poison = try await crash.add(dataJSON: #"{"mode":"crash_now"}"#)

        try await eventually("the poison job fails for good", timeout: .seconds(60)) { try await crash.job(poison)?.state == .failed }
        let failed = try #require(try await crash.job(poison))
        #expect(failed.failedReason?.contains("poison job") == true && failed.failedReason?.contains("SIGSEGV") == true, "\(failed.failedReason ?? "")")
        #expect(failed.fields["pcr"] == "2", "it killed its runner alone twice (max_crashes 2)")
        #expect(await pipeline.isServing(), "the host is up")
        try await eventually("the slow jobs complete", timeout: .seconds(60)) { (try await slow.counts()[.completed] ?? 0) == 4 }
        for id in slowJobs {
            let job = try #require(try await slow.job(id))
            #expect(job.fields["pcr"] == nil, "an innocent job is never counted as the culprit")
        }
        let history = try await pipeline.stores.postgres.query(
            "SELECT count(*) FROM job_events WHERE job_id = $1 AND message LIKE '%SIGSEGV%'", [poison]).rows
        #expect(Int(history.first?.first.flatMap { $0 } ?? "0") ?? 0 >= 2, "each attempt's SIGSEGV is in the event log")
        #expect(pipeline.host.output.contains("plugin runner died"), "one log line per crash")

        // A later job runs in a new runner, not in the one that died.
        let firstRunner = Self.pid(of: try await slow.job(slowJobs[0]))
        let later = try await slow.add(dataJSON: #"{"mode":"probe"}"#)
        try await eventually("a later job runs") { try await slow.job(later)?.state == .completed }
        let laterRunner = try #require(Self.pid(of: try await slow.job(later)))
        #expect(laterRunner != firstRunner && laterRunner != pipeline.host.child.pid, "a new runner: \(laterRunner)")
        let metrics = try await rawRequest(port: pipeline.adminPort, "GET", "/metrics")
        #expect(metrics.body.contains(#"pipeline_plugin_restarts_total{plugin="probe",cause="SIGSEGV"}"#), "\(metrics.body.prefix(300))")
        let (cookie, _) = try await pipeline.signIn()
        let queues = try await rawRequest(port: pipeline.adminPort, "GET", "/admin/queues", headers: ["Cookie": cookie])
        #expect(queues.body.contains("SIGSEGV") && queues.body.contains("process"))
        try await pipeline.stop()
    }

    @Test func aHungCallEndsItsRunnerAndLeavesNoThreadBehind() async throws {
        let pipeline = try await HostedPipeline(
            jobs: """
                  stuck: {plugin: probe, concurrency: 2, timeout: 200ms, attempts: 1}
                  other: {plugin: probe}
                """, queue: "cancel_grace: 200ms")
        let stuck = try pipeline.queue("stuck")
        let host = pipeline.host.child.pid
        _ = try await stuck.addBulk((0..<4).map { _ in (nil, #"{"mode":"block"}"#, JobOptions()) })
        try await eventually("the first four ended", timeout: .seconds(60)) { (try await stuck.counts()[.failed] ?? 0) == 4 }
        let before = Self.threads(host)
        _ = try await stuck.addBulk((0..<20).map { _ in (nil, #"{"mode":"block"}"#, JobOptions()) })
        try await eventually("all 24 ended", timeout: .seconds(120)) { (try await stuck.counts()[.failed] ?? 0) == 24 }
        let after = Self.threads(host)
        #expect(after <= before + 4, "the host's threads stay flat: \(before) → \(after)")
        let failed = try await stuck.client.send(["ZRANGE", stuck.key("failed"), "0", "0"]).elements.first?.text ?? ""
        #expect(try await stuck.job(failed)?.failedReason?.contains("timed out") == true)
        #expect(pipeline.host.output.contains("ran past its timeout"), "the runner was ended for the hang")
        try await pipeline.completesAJob(of: "other")
        try await pipeline.stop()
    }

    @Test func aPluginThatGrowsIsStoppedAtItsMemoryLimitAndTheHostDoesNotGrow() async throws {
        let pipeline = try await HostedPipeline(
            jobs: "  work: {plugin: probe, attempts: 1}\n  other: {plugin: probe}", pluginOptions: "max_memory: 64MB")
        let work = try pipeline.queue("work")
        let before = Self.resident(pipeline.host.child.pid)
        let id = try await work.add(dataJSON: #"{"mode":"grow"}"#)
        try await eventually("the growing job failed", timeout: .seconds(60)) { try await work.job(id)?.state == .failed }
        let reason = try await work.job(id)?.failedReason ?? ""
        #expect(reason.contains("was ended at its max_memory of 64MB"), "\(reason)")
        let grown = Self.resident(pipeline.host.child.pid) - before
        #expect(grown < 32 << 20, "the host did not grow: \(grown >> 20) MiB")
        try await pipeline.completesAJob(of: "other")
        try await pipeline.stop()
    }

    @Test func noRunnerOutlivesAHostKilledWithSIGKILL() async throws {
        let pipeline = try await HostedPipeline(jobs: "  work: {plugin: probe, concurrency: 2}")
        let work = try pipeline.queue("work")
        _ = try await work.addBulk((0..<2).map { _ in (nil, #"{"mode":"probe","sleep_ms":30000}"#, JobOptions()) })
        try await eventually("the jobs run") { (try await work.counts()[.active] ?? 0) == 2 }
        let runners = Self.children(of: pipeline.host.child.pid)
        #expect(!runners.isEmpty, "the host has runners")
        pipeline.host.kill()
        try await eventually("no runner is left", timeout: .seconds(10)) { runners.allSatisfy(Self.isGone) }
    }

    @Test func validateAndInspectShowEachPluginsMode() async throws {
        let directory = try TemporaryDirectory()
        let file = try directory.write(
            "pipeline.yaml",
            """
            postgres: {enabled: false}
            plugins:
              isolated: {path: libFixtureCEcho.so, max_memory: 256MB}
              trusted: {path: libFixtureSwiftEcho.so, isolation: none}
            jobs:
              echo: {plugin: isolated}
              swift.echo: {plugin: trusted}
            """)
        let run = try await CommandLineTests.run(["validate", "--no-start", "--config", file])
        #expect(run.status == 0, "\(run.errors)")
        #expect(run.output.contains("process, max 256MB") && run.output.contains(" none "), "\(run.output)")
        let inspect = try await CommandLineTests.run(["plugin", "inspect", ProductsDirectory.plugin("FixtureCEcho")])
        #expect(inspect.output.contains("isolation        process"))
        let bad = try directory.write(
            "bad.yaml", "plugins:\n  p: {path: libFixtureCEcho.so, isolation: sandbox, max_memory: 1XB}\njobs:\n  echo: {plugin: p}\n")
        let refused = try await CommandLineTests.run(["validate", "--no-start", "--config", bad])
        #expect(refused.status == 1 && refused.errors.contains("isolation must be process") && refused.errors.contains("max_memory"))
    }
}
