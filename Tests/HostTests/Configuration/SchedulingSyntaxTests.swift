import Foundation
import PipelineHost
import Testing

@Suite struct DurationSyntaxTests {
    @Test(arguments: [
        ("500ms", Duration.milliseconds(500)), ("2s", .seconds(2)), ("5m", .seconds(300)), ("1h30m", .seconds(5400)),
        ("7d", .seconds(604_800)), ("1.5s", .milliseconds(1500)), ("0s", .zero),
    ])
    func parses(_ text: String, _ expected: Duration) throws {
        #expect(try DurationSyntax.parse(text).get() == expected)
    }

    @Test(arguments: ["", "10", "2x", "s", "1h 30", "-5s", "400d"])
    func refuses(_ text: String) {
        #expect(throws: DurationSyntaxError.self) { try DurationSyntax.parse(text).get() }
    }

    @Test func formatsBack() {
        #expect(DurationSyntax.format(.seconds(5400)) == "1h30m")
        #expect(DurationSyntax.format(.milliseconds(2500)) == "2s500ms")
    }
}

@Suite struct BackoffTests {
    @Test func exponentialDoublesFromTheBaseDelay() {
        let backoff = Backoff(strategy: .exponential, delay: .seconds(2))
        #expect((1...4).map { backoff.delay(afterAttempt: $0) } == [.seconds(2), .seconds(4), .seconds(8), .seconds(16)])
    }

    @Test func fixedStaysAndLimitCaps() {
        #expect(Backoff(strategy: .fixed, delay: .seconds(3)).delay(afterAttempt: 7) == .seconds(3))
        let capped = Backoff(strategy: .exponential, delay: .seconds(1), limit: .seconds(5))
        #expect(capped.delay(afterAttempt: 10) == .seconds(5))
    }

    @Test func jitterTakesOffUpToItsFraction() {
        let backoff = Backoff(strategy: .fixed, delay: .seconds(10), jitter: 0.5)
        #expect(backoff.delay(afterAttempt: 1, random: 0) == .seconds(10))
        #expect(backoff.delay(afterAttempt: 1, random: 0.5) == .milliseconds(7500))
        #expect(backoff.delay(afterAttempt: 1, random: 0.999_999) > .seconds(5))
    }
}

@Suite struct CronExpressionTests {
    static func utc(_ text: String) -> Date {
        ISO8601DateFormatter().date(from: text)!
    }

    @Test(arguments: [
        ("*/5 * * * *", "2026-11-29T07:12:30Z", "2026-11-29T07:15:00Z"),
        ("0 */6 * * *", "2026-11-29T07:00:00Z", "2026-11-29T12:00:00Z"),
        ("30 2 * * mon-fri", "2026-11-28T03:00:00Z", "2026-11-30T02:30:00Z"),
        ("0 0 1 jan *", "2026-11-29T07:00:00Z", "2027-01-01T00:00:00Z"),
        ("0 12 29 2 *", "2026-03-01T00:00:00Z", "2028-02-29T12:00:00Z"),
        ("0 0 13 * 5", "2026-11-29T00:00:00Z", "2026-12-04T00:00:00Z"),
        ("@hourly", "2026-11-29T07:59:59Z", "2026-11-29T08:00:00Z"),
        ("15,45 8-9 * * 7", "2026-11-29T08:20:00Z", "2026-11-29T08:45:00Z"),
    ])
    func nextFireDate(_ expression: String, _ after: String, _ expected: String) throws {
        let cron = try CronExpression(parsing: expression)
        #expect(cron.nextFireDate(after: Self.utc(after)) == Self.utc(expected))
    }

    @Test(arguments: [
        ("* * * *", "expected 5 fields"), ("60 * * * *", "minute field: 60 is out of range 0-59"),
        ("* 24 * * *", "hour field: 24 is out of range 0-23"), ("* * 0 * *", "day of month field: 0 is out of range 1-31"),
        ("* * * foo *", "month field: 'foo' is not a number or a name"), ("*/0 * * * *", "step '0' is not a positive number"),
        ("5-1 * * * *", "range '5-1' runs backwards"), ("0 0 30 2 *", "it can never fire"), ("* * * * 8", "0-7"),
    ])
    func refuses(_ expression: String, _ reason: String) {
        let error = #expect(throws: CronSyntaxError.self) { try CronExpression(parsing: expression) }
        #expect(error?.reason.contains(reason) == true, "\(error?.description ?? "")")
    }
}
