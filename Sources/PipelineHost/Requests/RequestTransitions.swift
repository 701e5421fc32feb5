/// Which moves between request statuses are legal: the request ledger's
/// rules, in one place, as a pure value that needs no I/O to test.
///
/// The table follows what the system we replace does (see
/// `../shared/research/readmeabook-jobs.md` §3), with its bugs fixed:
/// nothing leaves `cancelled` or `denied` (a running job can no longer write
/// `downloading` over a cancelled request), and a repeated move to the status
/// a request already has is accepted and changes nothing, so that a job that
/// runs twice (at-least-once) asks for the same move twice harmlessly.
public enum RequestTransitions {
    /// The statuses a request may move to from each status.
    public static let legal: [RequestStatus: Set<RequestStatus>] = [
        .pending: [.searching, .awaitingSearch, .awaitingRelease, .downloading, .failed, .cancelled, .available],
        .awaitingApproval: [.pending, .downloading, .denied, .cancelled, .available],
        .denied: [],
        .awaitingRelease: [.awaitingSearch, .pending, .searching, .cancelled, .available],
        .awaitingSearch: [.searching, .awaitingRelease, .pending, .cancelled, .available],
        .searching: [.downloading, .awaitingSearch, .awaitingRelease, .failed, .cancelled, .available],
        // Back to awaiting_search when every release failed in the client: a new search follows.
        .downloading: [.processing, .awaitingSearch, .failed, .cancelled, .available],
        .processing: [.downloaded, .awaitingImport, .warn, .failed, .available],
        .awaitingImport: [.processing, .warn, .failed, .available],
        .warn: [.processing, .pending, .available],
        .downloaded: [.available, .processing],
        .available: [.downloaded],
        .failed: [.pending, .downloading, .processing, .available],
        .cancelled: [],
    ]

    /// The statuses from which a request may be cancelled.
    public static let cancellable: Set<RequestStatus> = [
        .pending, .awaitingApproval, .awaitingRelease, .awaitingSearch, .searching, .downloading,
    ]

    /// What asking to move from `current` to `target` does.
    public enum Verdict: Sendable, Equatable {
        /// The move is legal.
        case move
        /// The request already has that status: nothing to do.
        case unchanged
        /// The move is illegal; the reason says why.
        case refused(String)
    }

    public static func verdict(from current: RequestStatus, to target: RequestStatus) -> Verdict {
        if current == target { return .unchanged }
        if current == .cancelled { return .refused("the request was cancelled; nothing may change it") }
        if legal[current, default: []].contains(target) { return .move }
        return .refused("a request cannot move from \(current.rawValue) to \(target.rawValue)")
    }
}
