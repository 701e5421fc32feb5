/// The statuses of an audiobook request, as the system we replace names
/// them. Which moves between them are legal is the request ledger's business
/// (docs/requests.md); plugins ask for them through the host.
public enum RequestStatus: String, Sendable, CaseIterable, Codable {
    case pending
    case awaitingApproval = "awaiting_approval"
    case denied
    case awaitingRelease = "awaiting_release"
    case awaitingSearch = "awaiting_search"
    case searching
    case downloading
    case processing
    case awaitingImport = "awaiting_import"
    case warn
    case downloaded
    case available
    case failed
    case cancelled
}

extension RequestStatus {
    /// Whether a job is working on the request in this status: a job that
    /// fails for good leaves no request here (the host moves it to `failed`).
    public var isUnderWay: Bool {
        switch self {
        case .pending, .searching, .downloading, .processing: return true
        default: return false
        }
    }
}
