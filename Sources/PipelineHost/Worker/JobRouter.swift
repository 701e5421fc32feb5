import Foundation
import PipelineJSON

/// Chooses which of several plugin instances runs each job, for a job type
/// that pipeline.yaml binds to a list of instances rather than to one
/// plugin (`plugin: download_clients`).
///
/// The engine knows nothing of what the list means: the router reads the
/// job's payload and names an instance. A router also marks what a job asks
/// for (its follow-up jobs, its rescheduled payload, the records of its
/// request transitions) with the instance that ran it, so that the jobs after
/// it find the same instance.
public protocol JobRouter: Sendable {
    /// The instances the router chooses among, in priority order.
    var instances: [String] { get }

    /// Where a job of `jobType` with `payloadJSON` runs, or why it cannot
    /// (the job then fails for good with that message).
    func route(jobType: String, payloadJSON: String) -> Result<JobRoute, JobRouteRefusal>

    /// `payloadJSON` of a job of `jobType`, marked as belonging to `instance`
    /// when the router routes `jobType`; unchanged otherwise.
    func mark(payloadJSON: String, ofJobType jobType: String, for instance: String) -> String

    /// The details of a request transition asked by a job that `instance`
    /// ran, with the instance recorded where the ledger keeps it.
    func mark(transitionDetailsJSON: String?, for instance: String) -> String?

    /// The name a library report of `instance` is kept under (by default
    /// the backend name the plugin gave).
    func mark(libraryBackend backend: String, for instance: String) -> String
}

/// Where a routed job runs.
public enum JobRoute: Sendable, Equatable {
    /// On this instance.
    case instance(String)
    /// Once on each of these instances: the host completes the job by adding
    /// one job per instance, each marked with its instance.
    case each([String])
}

extension JobRouter {
    public func mark(libraryBackend backend: String, for instance: String) -> String { backend }
}

/// Why no instance can run a job.
public struct JobRouteRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

extension JobRouter {
    /// `effects` of a job that `instance` ran, each marked with the instance.
    func mark(_ effects: [PluginEffect], for instance: String) -> [PluginEffect] {
        effects.map { effect in
            switch effect {
            case .enqueue(let jobType, let payloadJSON, let options):
                return .enqueue(jobType: jobType, payloadJSON: mark(payloadJSON: payloadJSON, ofJobType: jobType, for: instance), options: options)
            case .requestTransition(let requestID, let status, let detailsJSON):
                return .requestTransition(requestID: requestID, status: status, detailsJSON: mark(transitionDetailsJSON: detailsJSON, for: instance))
            case .libraryReport(let backend, let items, let complete):
                return .libraryReport(backend: mark(libraryBackend: backend, for: instance), items: items, complete: complete)
            }
        }
    }
}

/// A payload as routers read and mark it: a JSON object.
enum RoutedPayload {
    /// The members of `json`, or nil when it is not a JSON object.
    static func object(_ json: String) -> [String: JSONValue]? {
        (try? JSONDecoder().decode(JSONValue.self, from: Data(json.utf8)))?.objectValue
    }

    /// `json` with member `key` set to `instance`; unchanged when it already
    /// is, or when `json` is not an object.
    static func marking(_ json: String, _ key: String, with instance: String) -> String {
        guard var object = object(json), object[key]?.stringValue != instance else { return json }
        object[key] = .string(instance)
        return text(object) ?? json
    }

    /// `object` as JSON text, keys sorted.
    static func text(_ object: [String: JSONValue]) -> String? {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(JSONValue.object(object))).map { String(decoding: $0, as: UTF8.self) }
    }
}
