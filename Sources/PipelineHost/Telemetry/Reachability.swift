import Foundation
import Synchronization

/// Whether a service (Redis, PostgreSQL) answered the host's last call, as
/// the host's own calls find it: what `/healthz` reports, without making a
/// call of its own (an unauthenticated probe must not cost a query).
public final class Reachability: Sendable {
    public enum State: String, Sendable {
        /// No call has been made yet.
        case unknown
        case ok
        case unreachable
    }

    private let current = Mutex<(state: State, since: Date, error: String?)>((.unknown, Date(), nil))

    public init() {}

    /// The state, since when, and the last connection error while unreachable.
    public var snapshot: (state: State, since: Date, error: String?) { current.withLock { $0 } }

    /// A call got an answer.
    func succeeded() {
        current.withLock { current in
            if current.state != .ok { current = (.ok, Date(), nil) }
        }
    }

    /// A call found no connection.
    func failed(_ error: String) {
        current.withLock { current in
            current = (.unreachable, current.state == .unreachable ? current.since : Date(), error)
        }
    }
}
