@testable import PipelineHost
import Testing

/// The queue's pure parts: what an attempt's outcome does, BullMQ's option
/// encoding, and the names Redis gives scripts.
@Suite struct QueuePureTests {
    static let settings: JobTypeConfiguration = {
        var configuration = try! ConfigurationLoader(environment: [:], defaultPluginDirectory: "/p").load(
            bytes: Array("plugins: {p: {path: x.so}}\njobs: {work: {plugin: p, attempts: 3, retention: {completed: 7, failed: 9}}}\n".utf8),
            file: "t.yaml")
        return configuration.jobs[0]
    }()

    static func outcome(_ kind: PluginCallOutcome.Kind, delay: Duration? = nil) -> PluginCallOutcome {
        var outcome = PluginCallOutcome(
            result: .completed(0, afterDeadline: false), report: PluginCall.Report(), timeout: .seconds(1),
            cancelGrace: .seconds(1), duration: .zero)
        outcome.kind = kind
        outcome.message = "why"
        outcome.delay = delay
        outcome.resultJSON = "{\"ok\":1}"
        return outcome
    }

    @Test func retriesWhileAttemptsRemainWithTheBackoffOrThePluginsDelay() {
        let options = JobOptions()
        let first = AttemptResolution(outcome: Self.outcome(.retry), options: options, attemptsMade: 0, settings: Self.settings, random: 0)
        guard case .retry(_, let delay) = first.kind else { Issue.record("expected a retry"); return }
        #expect(delay == .seconds(2))
        let second = AttemptResolution(outcome: Self.outcome(.retry), options: options, attemptsMade: 1, settings: Self.settings, random: 0)
        guard case .retry(_, let later) = second.kind else { Issue.record("expected a retry"); return }
        #expect(later == .seconds(4))
        let last = AttemptResolution(outcome: Self.outcome(.retry), options: options, attemptsMade: 2, settings: Self.settings, random: 0)
        guard case .failed = last.kind else { Issue.record("expected a failure on the last attempt"); return }
        #expect(last.keep == RetentionRule(count: 9))
        let told = AttemptResolution(
            outcome: Self.outcome(.retry, delay: .milliseconds(1500)), options: options, attemptsMade: 0, settings: Self.settings, random: 0)
        guard case .retry(_, let chosen) = told.kind else { Issue.record("expected a retry"); return }
        #expect(chosen == .milliseconds(1500))
    }

    @Test func aJobsOwnOptionsWinOverTheJobTypes() {
        let options = JobOptions(
            attempts: 1, backoff: Backoff(strategy: .fixed, delay: .seconds(9)), removeOnComplete: RetentionRule(count: 0))
        let retry = AttemptResolution(outcome: Self.outcome(.retry), options: options, attemptsMade: 0, settings: Self.settings, random: 0)
        guard case .failed = retry.kind else { Issue.record("one attempt allowed: no retry"); return }
        let done = AttemptResolution(outcome: Self.outcome(.done), options: options, attemptsMade: 0, settings: Self.settings, random: 0)
        guard case .completed(let result) = done.kind else { Issue.record("expected completion"); return }
        #expect(result == "{\"ok\":1}")
        #expect(done.keep == RetentionRule(count: 0))
        let permanent = AttemptResolution(outcome: Self.outcome(.fail), options: JobOptions(attempts: 9), attemptsMade: 0, settings: Self.settings, random: 0)
        guard case .failed = permanent.kind else { Issue.record("a permanent failure is never retried"); return }
    }

    @Test func bullmqOptionsRoundTrip() throws {
        let options = JobOptions(
            attempts: 3, backoff: Backoff(strategy: .exponential, delay: .seconds(2), jitter: 0.5), delay: .milliseconds(1500),
            priority: 4, lifo: true, jobID: "order-42", removeOnComplete: RetentionRule(count: 100),
            removeOnFail: RetentionRule(count: 5, age: .seconds(3600)))
        #expect(options.json == #"{"attempts":3,"backoff":{"delay":2000,"jitter":0.5,"type":"exponential"},"delay":1500,"jobId":"order-42","lifo":true,"priority":4,"removeOnComplete":100,"removeOnFail":{"age":3600,"count":5}}"#)
        #expect(try JobOptions(json: options.json) == options)
    }

    @Test func readsWhatOtherBullMQClientsWrite() throws {
        let python = try JobOptions(json: #"{"jobId":"x","backoff":{"delay":300,"type":"exponential"},"delay":0,"attempts":3,"removeOnComplete":true,"removeOnFail":false}"#)
        #expect(python.attempts == 3)
        #expect(python.backoff == Backoff(strategy: .exponential, delay: .milliseconds(300)))
        #expect(python.removeOnComplete == RetentionRule(count: 0))
        #expect(python.removeOnFail == RetentionRule())
        let node = try JobOptions(json: #"{"attempts":0,"backoff":500}"#)
        #expect(node.attempts == nil, "0 attempts leaves it to the job type")
        #expect(node.backoff == Backoff(strategy: .fixed, delay: .milliseconds(500)))
        #expect(throws: InvalidJobOptions(option: "opts", problem: "is not a JSON object")) { try JobOptions(json: "not json") }
    }

    /// Hardening #1: options another producer wrote with numbers no
    /// arithmetic could survive are refused, naming the option, instead of
    /// trapping the host when the job finishes.
    @Test func optionsOutOfRangeAreRefusedNamingTheOption() {
        let cases: [(String, String)] = [
            (#"{"removeOnComplete":{"age":9223372036854775807}}"#, "removeOnComplete.age"),
            (#"{"removeOnFail":{"age":1e300}}"#, "removeOnFail.age"),
            (#"{"removeOnComplete":-1}"#, "removeOnComplete"),
            (#"{"backoff":{"type":"exponential","delay":9223372036854775807}}"#, "backoff.delay"),
            (#"{"backoff":{"type":"fixed","delay":1000,"jitter":7}}"#, "backoff.jitter"),
            (#"{"backoff":{"type":"custom","delay":10}}"#, "backoff.type"),
            (#"{"backoff":"soon"}"#, "backoff"),
            (#"{"delay":-5}"#, "delay"),
            (#"{"delay":1e19}"#, "delay"),
            (#"{"attempts":99999999999}"#, "attempts"),
            (#"{"priority":3000000}"#, "priority"),
            (#"{"lifo":"yes"}"#, "lifo"),
            (#"{"jobId":"wait"}"#, "jobId"),
        ]
        for (json, option) in cases {
            #expect(performing: { _ = try JobOptions(json: json) }, throws: { error in
                (error as? InvalidJobOptions)?.option == option && "\(error)".contains("opts.\(option)")
            })
        }
    }

    /// Hardening #1: backoff arithmetic saturates at the longest delay, for
    /// any attempt count and any base delay.
    @Test func backoffNeverOverflows() {
        let huge = Backoff(strategy: .exponential, delay: .milliseconds(JobLimits.maximumDelayMilliseconds), jitter: 1)
        #expect(huge.delay(afterAttempt: Int.max, random: 0) == JobLimits.maximumDelay)
        #expect(huge.delay(afterAttempt: 1_000_000, random: 0.999999).milliseconds >= 0)
        let small = Backoff(strategy: .exponential, delay: .seconds(2))
        #expect(small.delay(afterAttempt: 3) == .seconds(8))
        #expect(small.delay(afterAttempt: 200) == JobLimits.maximumDelay)
        #expect(Duration.seconds(Int64.max).milliseconds == Int64.max, "saturates instead of trapping")
        #expect(Int64(saturating: Double.nan) == 0 && Int64(saturating: 1e300) == .max && Int64(saturating: -1e300) == .min)
        #expect(Int64.max.addingSaturating(1) == .max && Int64.min.subtractingSaturating(1) == .min)
    }

    /// Hardening #3: an id equal to one of a queue's own keys is refused
    /// everywhere ids enter: adds (CLI, API, follow-ups) and plugins' enqueue.
    @Test func idsThatNameAQueueKeyAreRefused() {
        for id in JobLimits.reservedJobIDs {
            #expect(throws: QueueError.self) { try JobQueue.check(JobOptions(jobID: id)) }
            #expect(FollowUpOptions(jobID: id).problem != nil)
        }
        #expect(FollowUpOptions(delayMilliseconds: Int64.max).problem != nil)
        #expect(FollowUpOptions(priority: -1).problem != nil)
        #expect(FollowUpOptions(delayMilliseconds: 1000, priority: 5, jobID: "retry-search-1-2").problem == nil)
        #expect(throws: QueueError.self) { try JobQueue.check(JobOptions(delay: .seconds(Int64.max))) }
    }

    @Test func scriptsAreNamedByTheirSHA1AsRedisNamesThem() {
        #expect(SHA1.hex(Array("abc".utf8)) == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(SHA1.hex([]) == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        #expect(SHA1.hex(Array(String(repeating: "a", count: 1000).utf8)) == "291e9a6c66994949b57ba5e650361e98fc36b1ba")
    }

    @Test func customJobIDsFollowBullMQsRules() {
        #expect(throws: QueueError.self) { try JobQueue.check(JobOptions(jobID: "42")) }
        #expect(throws: QueueError.self) { try JobQueue.check(JobOptions(jobID: "a:b")) }
        #expect(throws: QueueError.self) { try JobQueue.check(JobOptions(priority: 3_000_000)) }
        #expect(throws: Never.self) { try JobQueue.check(JobOptions(priority: 2_097_151, jobID: "order-42")) }
    }
}
