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

    /// The instance that runs a job of `jobType` with `payloadJSON`, or why
    /// none can (the job then fails for good with that message).
    func instance(forJobType jobType: String, payloadJSON: String) -> Result<String, JobRouteRefusal>

    /// `payloadJSON` of a job of `jobType`, marked as belonging to `instance`
    /// when the router routes `jobType`; unchanged otherwise.
    func mark(payloadJSON: String, ofJobType jobType: String, for instance: String) -> String

    /// The details of a request transition asked by a job that `instance`
    /// ran, with the instance recorded where the ledger keeps it.
    func mark(transitionDetailsJSON: String?, for instance: String) -> String?
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
            case .libraryReport:
                return effect
            }
        }
    }
}
