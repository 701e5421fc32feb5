import Foundation
import PipelineHost
import Testing

/// Jobs run through real plugins, a C one and a Swift one, in one host
/// process: each outcome of the ABI, what the plugins report on the way, and
/// the effects they ask for.
@Suite struct PluginExecutionTests {
    @Test func cAndSwiftPluginsRunJobsInTheSameProcess() async throws {
        let c = try await startPlugin("FixtureCEcho", name: "c")
        let swift = try await loadPlugin(builtPlugin("FixtureSwiftEcho"))
            .start(name: "swift", configJSON: #"{"greeting":"hello"}"#, logger: .silent)
        var plugins = PluginSet()
        try plugins.add(c.plugin, as: "c")
        try plugins.add(swift.plugin, as: "swift")
        let executor = BlockingExecutor(threads: 4)
        async let fromC = c.execute(
            PluginJob(id: "1", type: "echo", payloadJSON: #"{"mode":"done","n":1}"#), on: executor, timeout: .seconds(10),
            effects: .none)
        async let fromSwift = swift.execute(
            PluginJob(id: "2", type: "swift.echo", attempt: 2, maxAttempts: 3, payloadJSON: #"{"mode":"done","title":"Dune"}"#),
            on: executor, timeout: .seconds(10), effects: .none)
        let (cOutcome, swiftOutcome) = await (fromC, fromSwift)
        await executor.shutdown()

        #expect(cOutcome.kind == .done)
        #expect(cOutcome.resultJSON == #"{"mode":"done","n":1}"#)
        #expect(cOutcome.report.progress?.percent == 50)
        #expect(cOutcome.report.events.map(\.message) == ["echoing"])
        #expect(cOutcome.report.events.first?.metadataJSON == #"{"lang":"c"}"#)

        #expect(swiftOutcome.kind == .done)
        #expect(swiftOutcome.resultJSON == #"{"greeting":"hello","title":"Dune"}"#)
        #expect(swiftOutcome.report.progress?.percent == 100)
        #expect(swiftOutcome.report.events.first?.level == .warn)
        #expect(swiftOutcome.report.events.first?.metadataJSON == #"{"attempt":2,"lang":"swift"}"#)
        #expect(plugins.plugin(forJobType: "swift.echo")?.name == "swift")
    }

    @Test(arguments: ["FixtureCEcho", "FixtureSwiftEcho"])
    func outcomesMapOntoTheABI(_ product: String) async throws {
        let jobType = product == "FixtureCEcho" ? "echo" : "swift.echo"
        let config = #"{"greeting":"hi"}"#
        let retry = try await runJob(product, jobType, payload: #"{"mode":"retry"}"#, config: config)
        #expect(retry.kind == .retry)
        #expect(retry.delay == (product == "FixtureCEcho" ? .milliseconds(1500) : .seconds(2)))
        #expect(retry.message?.contains("503") == true)

        let fail = try await runJob(product, jobType, payload: #"{"mode":"fail"}"#, config: config)
        #expect(fail.kind == .fail)
        #expect(fail.message?.isEmpty == false)

        let reschedule = try await runJob(product, jobType, payload: #"{"mode":"reschedule"}"#, config: config)
        #expect(reschedule.kind == .reschedule)
        #expect(reschedule.payloadJSON == #"{"polls":1}"#)
        #expect(reschedule.delay == (product == "FixtureCEcho" ? .seconds(10) : .milliseconds(2500)))
    }

    @Test(arguments: ["FixtureCEcho", "FixtureSwiftEcho"])
    func timeoutCancelsTheCallAndCountsAsARetryableFailure(_ product: String) async throws {
        let jobType = product == "FixtureCEcho" ? "echo" : "swift.echo"
        let outcome = try await runJob(
            product, jobType, payload: #"{"mode":"wait_cancel"}"#, config: #"{"greeting":"hi"}"#,
            timeout: .milliseconds(200))
        #expect(outcome.timedOut)
        #expect(outcome.kind == .retry)
        #expect(outcome.message?.hasPrefix("timed out after 200ms") == true)
        #expect(outcome.duration >= .milliseconds(200))
    }

    @Test func aPluginThatIgnoresCancellationIsAbandonedAfterTheGracePeriod() async throws {
        let outcome = try await runJob(
            "FixtureCEcho", "echo", payload: #"{"mode":"hang"}"#, timeout: .milliseconds(100),
            cancelGrace: .milliseconds(100))
        #expect(outcome.timedOut)
        #expect(outcome.kind == .retry)
        #expect(outcome.message == "timed out after 100ms; the plugin did not stop within 100ms of being cancelled and may still be running")
        #expect(outcome.report.result == nil)
    }

    @Test func hostCancellationReachesASwiftPluginsTask() async throws {
        let outcome = try await runJob(
            "FixtureSwiftEcho", "swift.echo", payload: #"{"mode":"sleep"}"#, config: #"{"greeting":"x"}"#,
            timeout: .milliseconds(200))
        // Returned once cancelled (not abandoned after the grace period).
        #expect(outcome.message == "timed out after 200ms (the plugin said: cancelled by the host)")
    }

    @Test func swiftPluginAsyncCodeRunsOnTheHostsWorkerThread() async throws {
        let outcome = try await runJob("FixtureSwiftEcho", "swift.echo", payload: #"{"mode":"thread"}"#, config: #"{"greeting":"x"}"#)
        let thread = try #require(outcome.resultJSON)
        #expect(thread.contains("TP-#"), "ran on \(thread)")
    }

    @Test func shutdownNeverFreesStateUnderARunningCall() async throws {
        let instance = try await startPlugin("FixtureCEcho", name: "c")
        let executor = BlockingExecutor(threads: 1)
        let outcome = await instance.execute(
            PluginJob(id: "1", type: "echo", payloadJSON: #"{"mode":"block"}"#), on: executor, timeout: .milliseconds(50),
            cancelGrace: .milliseconds(50), effects: .none)
        #expect(outcome.timedOut)
        #expect(instance.runningCalls == 1)
        #expect(await instance.shutdown(wait: .milliseconds(20)) == false)
        let refused = await instance.execute(
            PluginJob(id: "2", type: "echo"), on: executor, timeout: .seconds(1), effects: .none)
        #expect(refused.kind == .retry)
        #expect(refused.message == "not run: the host is shutting down")
    }

    @Test func effectsAreCollectedAndCheckedButNotApplied() async throws {
        let c = try await runJob("FixtureCEcho", "echo", payload: #"{"mode":"effects"}"#)
        #expect(c.kind == .done)
        #expect(c.report.effects == [
            .requestTransition(requestID: "req-1", status: .searching, detailsJSON: nil),
            .enqueue(jobType: "echo", payloadJSON: #"{"mode":"done"}"#, options: FollowUpOptions(delayMilliseconds: 3000)),
        ])

        let swift = try await runJob("FixtureSwiftEcho", "swift.echo", payload: #"{"mode":"effects"}"#, config: #"{"greeting":"x"}"#)
        #expect(swift.kind == .done)
        #expect(swift.report.effects == [
            .requestTransition(requestID: "req-9", status: .downloading, detailsJSON: #"{"reason":"added"}"#),
            .enqueue(jobType: "echo", payloadJSON: #"{"mode":"done"}"#, options: FollowUpOptions(delayMilliseconds: 3000, jobID: "follow-1")),
        ])

        // A job type no plugin handles is refused at once; so is a host without a queue.
        let refused = try await runJob(
            "FixtureCEcho", "echo", payload: #"{"mode":"effects"}"#,
            effects: PluginEffectPolicy(enqueue: .jobTypes(["other"]), offersRequestTransitions: true))
        #expect(refused.kind == .fail)
        #expect(refused.message == "enqueue refused (status -2)")
        let noQueue = try await runJob("FixtureCEcho", "echo", payload: #"{"mode":"effects"}"#, effects: .none)
        #expect(noQueue.message == "transition refused")
    }

    /// `enqueue`'s options: the priority as a number or as pipeline.yaml names it.
    @Test func enqueueOptionsTakeNamedPriorities() throws {
        func decode(_ json: String) throws -> FollowUpOptions {
            try JSONDecoder().decode(FollowUpOptions.self, from: Data(json.utf8))
        }
        let high = try #require(JobPriority.parse("high")).value
        #expect(try decode(#"{"priority":"high","delay_ms":250,"job_id":"x-1"}"#)
            == FollowUpOptions(delayMilliseconds: 250, priority: high, jobID: "x-1"))
        #expect(try decode(#"{"priority":7}"#).priority == 7)
        #expect(try decode(#"{"priority":"low"}"#).priority == JobPriority.parse("low")?.value)
        #expect(try decode(#"{"priority":"high"}"#).priority != JobPriority.parse("low")?.value)
        let refused = #expect(throws: DecodingError.self) { try decode(#"{"priority":"urgent"}"#) }
        #expect(String(describing: refused).contains("'urgent' is not high, medium, low, none or a number"))
        #expect(try decode(#"{"priority":-1}"#).problem == "priority -1 is outside 0...\(JobPriority.maximum)")
        #expect(throws: DecodingError.self) { try decode(#"{"delay_ms":"soon"}"#) }
    }

    @Test func pluginBugsAndBadInputFailWithAClearMessage() async throws {
        let bogus = try await runJob("FixtureCEcho", "echo", payload: #"{"mode":"bogus"}"#)
        #expect(bogus.kind == .fail)
        #expect(bogus.message?.contains("the plugin returned 42, which is not an outcome") == true)

        let malformed = try await runJob("FixtureSwiftEcho", "swift.echo", payload: #"{"title":7}"#, config: #"{"greeting":"x"}"#)
        #expect(malformed.kind == .fail)
        #expect(malformed.message == "malformed payload for job type 'swift.echo': missing field 'mode'")

        let thrown = try await runJob("FixtureSwiftEcho", "swift.echo", payload: #"{"mode":"throw"}"#, config: #"{"greeting":"x"}"#)
        #expect(thrown.kind == .retry)
        #expect(thrown.message?.hasPrefix("Unexpected") == true)
    }

    @Test func checkAndShutdown() async throws {
        let instance = try await loadPlugin(builtPlugin("FixtureSwiftEcho"))
            .start(name: "s", configJSON: #"{"greeting":"x"}"#, logger: .silent)
        let executor = BlockingExecutor(threads: 1)
        #expect(await instance.check(on: executor) == .passed)
        let small = try await startPlugin("FixtureSmallStruct", name: "small")
        #expect(await small.check(on: executor) == nil)
        #expect(await instance.shutdown())
        #expect(await instance.shutdown() == false)
        await executor.shutdown()
    }
}
