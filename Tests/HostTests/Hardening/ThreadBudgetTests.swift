import Foundation
import PipelineHost
import Testing

/// Hardening #11: plugin calls that never return cost their own job type
/// slots, never another job type's threads, on a real `pipeline-host run`,
/// with the plugin in the host (`isolation: none`; isolated, the host ends
/// the runner instead: IsolationDrillTests).
@Suite struct ThreadBudgetTests {
    @Test func callsThatNeverReturnCostTheirOwnJobTypeAndNoOther() async throws {
        let pipeline = try await HostedPipeline(
            jobs: """
                  stuck: {plugin: probe, concurrency: 5, timeout: 300ms, attempts: 1}
                  other: {plugin: probe, concurrency: 1}
                """, isolation: "none")
        let stuck = try pipeline.queue("stuck")
        _ = try await stuck.addBulk((0..<10).map { _ in (nil, #"{"mode":"block"}"#, JobOptions()) })
        // Five calls hang, time out, and are given up after the grace; their threads stay in the plugin.
        try await eventually("five calls given up", timeout: .seconds(30)) {
            pipeline.host.output.components(separatedBy: "runs with one slot fewer").count - 1 >= 5
        }
        // Another job type still has its thread.
        for _ in 0..<3 { try await pipeline.completesAJob(of: "other") }
        // The stuck type takes no job it could not start: none waits for a thread holding its lock.
        let counts = try await stuck.counts()
        #expect((counts[.active] ?? 0) == 0, "no stuck job is left active: \(counts)")
        #expect((counts[.waiting] ?? 0) + (counts[.failed] ?? 0) == 10, "\(counts)")
        #expect(await pipeline.isServing())
        pipeline.host.kill()
    }
}
