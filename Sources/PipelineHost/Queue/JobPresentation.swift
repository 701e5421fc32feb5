import Foundation

/// How `pipeline-host job` shows a job.
public enum JobPresentation {
    public static func text(_ job: JobSnapshot) -> String {
        let format = ISO8601DateFormatter()
        format.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var rows: [(String, String)] = [
            ("job", "\(job.queue) \(job.id)"),
            ("state", job.state.rawValue),
            ("attempts", "\(job.attemptsMade) made, \(job.attemptsStarted) started, \(job.options.attempts.map(String.init) ?? "job type's") allowed"),
            ("created", job.createdAt.map(format.string) ?? "-"),
            ("started", job.processedAt.map(format.string) ?? "-"),
            ("finished", job.finishedAt.map(format.string) ?? "-"),
            ("data", job.dataJSON),
        ]
        if let result = job.returnValue { rows.append(("result", result)) }
        if let reason = job.failedReason { rows.append(("failure", reason)) }
        if let progress = job.fields["progress"] { rows.append(("progress", progress)) }
        for line in job.logs { rows.append(("log", line)) }
        return rows.map { "\($0.0.padding(toLength: 9, withPad: " ", startingAt: 0)) \($0.1)" }.joined(separator: "\n")
    }

    public static func json(_ job: JobSnapshot) throws -> String {
        struct Shown: Encodable {
            var id: String
            var jobType: String
            var state: String
            var attemptsMade: Int
            var attemptsStarted: Int
            var createdAt: Date?
            var startedAt: Date?
            var finishedAt: Date?
            var data: String
            var result: String?
            var failedReason: String?
            var logs: [String]
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        let shown = Shown(
            id: job.id, jobType: job.queue, state: job.state.rawValue, attemptsMade: job.attemptsMade,
            attemptsStarted: job.attemptsStarted, createdAt: job.createdAt, startedAt: job.processedAt,
            finishedAt: job.finishedAt, data: job.dataJSON, result: job.returnValue, failedReason: job.failedReason,
            logs: job.logs)
        return String(decoding: try encoder.encode(shown), as: UTF8.self)
    }
}
