import Foundation
import HummingbirdCore
import PipelineJSON
import PipelinePayloads

/// The host's parsers at the trust boundary, reachable from outside the
/// module for the fuzz targets (`Sources/FuzzTargets`), which must build in
/// release too (no `@testable` there). Each takes arbitrary input and must
/// return without trapping, hanging or allocating without bound.
public enum FuzzEntryPoints {
    /// A BullMQ job hash as Redis returns it: its options read, and what a
    /// finished attempt of every outcome would write.
    public static func jobHash(fields: [String: String]) {
        let job = TakenJob(id: "fuzz", token: "host:1:1", fields: fields)
        switch job.options {
        case .success(let options):
            let defaults = JobDefaults()
            let settings = JobTypeConfiguration(
                name: "fuzz", plugin: "p", concurrency: 1, priority: defaults.priority, attempts: defaults.attempts,
                backoff: defaults.backoff, timeout: defaults.timeout, retention: defaults.retention, delay: defaults.delay,
                schedule: nil, location: SourceLocation(line: 1, column: 1), pluginLocation: SourceLocation(line: 1, column: 1))
            for kind in [PluginCallOutcome.Kind.done, .retry, .fail, .reschedule] {
                var outcome = PluginCallOutcome(
                    result: .completed(0, afterDeadline: false), report: PluginCall.Report(), timeout: .seconds(1),
                    cancelGrace: .seconds(1), duration: .zero)
                outcome.kind = kind
                if kind == .reschedule { outcome.delay = .seconds(1) }
                let resolution = AttemptResolution(
                    outcome: outcome, options: options, attemptsMade: job.attemptsMade, settings: settings, random: 0.5)
                _ = JobFinish(id: job.id, token: job.token, kind: resolution.kind, keep: resolution.keep, attempts: resolution.attempts)
                    .arguments
            }
            _ = options.json
            _ = try? JobQueue.check(options)
        case .failure(let invalid):
            _ = invalid.description
        }
        _ = (job.run, job.timestamp, job.deferredFailure, job.dataJSON)
        let snapshot = JobSnapshot(id: "fuzz", queue: "q", state: .waiting, fields: fields, logs: [])
        _ = (snapshot.createdAt, snapshot.processedAt, snapshot.finishedAt, snapshot.attemptsMade, snapshot.options)
        _ = JobPresentation.text(snapshot)
    }

    /// An admin query string (after the `?`), a sign-in's `next` and a `Host` header.
    public static func adminQuery(_ query: String) {
        _ = try? JobFilter(URI("/api/admin/logs?" + query).queryParameters)
        _ = AdminPage.nextPage(query)
        _ = HostAllowList(listenHost: "127.0.0.1", port: 8089, allowed: ["pipeline.example.org"]).allows(query)
    }

    /// An admin or plugin JSON body: a new request, a request query, follow-up options.
    public static func adminBody(_ body: Data) {
        _ = try? JSONDecoder().decode(NewRequest.self, from: body)
        _ = try? JSONDecoder().decode(RequestQuery.self, from: body)
        if let options = try? JSONDecoder().decode(FollowUpOptions.self, from: body) { _ = options.problem }
        _ = try? JSONDecoder().decode(JSONValue.self, from: body)
    }
}
