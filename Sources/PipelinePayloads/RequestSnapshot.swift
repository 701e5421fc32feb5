import PipelineJSON

/// A request as the host's request ledger describes it to a plugin
/// (`find_requests`, since ABI 1.2) and as the host builds the payloads of the jobs
/// it starts itself (a new request's `search_indexers`, an operator's retry).
///
/// The same type is encoded by the host and decoded by plugins, so the field
/// names exist once (docs/plugin-abi.md, "Finding requests").
public struct RequestSnapshot: Sendable, Equatable, Codable {
    public var id: String
    /// A request status (docs/requests.md), such as `awaiting_search`.
    public var status: String
    public var statusReason: String?
    /// The book, with ``BookFields`` keys plus `release_date` (YYYY-MM-DD):
    /// what `search_indexers` and `organize_files` take as `book`.
    public var book: JSONValue
    public var releaseDate: String?
    public var searchAttempts: Int
    public var importAttempts: Int
    /// ISO 8601 times, or nil when never stamped.
    public var lastSearchAt: String?
    public var lastImportAt: String?
    public var createdAt: String
    /// The request's latest download (a completed one before others), if any.
    public var download: DownloadRecord?

    public init(
        id: String, status: String, statusReason: String? = nil, book: JSONValue, releaseDate: String? = nil,
        searchAttempts: Int = 0, importAttempts: Int = 0, lastSearchAt: String? = nil, lastImportAt: String? = nil,
        createdAt: String, download: DownloadRecord? = nil
    ) {
        self.id = id
        self.status = status
        self.statusReason = statusReason
        self.book = book
        self.releaseDate = releaseDate
        self.searchAttempts = searchAttempts
        self.importAttempts = importAttempts
        self.lastSearchAt = lastSearchAt
        self.lastImportAt = lastImportAt
        self.createdAt = createdAt
        self.download = download
    }

    enum CodingKeys: String, CodingKey {
        case id, status, book, download
        case statusReason = "status_reason"
        case releaseDate = "release_date"
        case searchAttempts = "search_attempts"
        case importAttempts = "import_attempts"
        case lastSearchAt = "last_search_at"
        case lastImportAt = "last_import_at"
        case createdAt = "created_at"
    }

    /// One row of a request's download history.
    public struct DownloadRecord: Sendable, Equatable, Codable {
        public var client: String
        /// The client's id of the download (a torrent's info hash).
        public var clientID: String?
        public var releaseTitle: String
        /// `downloading`, `completed` or `failed`.
        public var status: String
        /// Where the finished download is, as the host sees it (after path mapping).
        public var savePath: String?

        public init(client: String, clientID: String?, releaseTitle: String, status: String, savePath: String?) {
            self.client = client
            self.clientID = clientID
            self.releaseTitle = releaseTitle
            self.status = status
            self.savePath = savePath
        }

        enum CodingKeys: String, CodingKey {
            case client, status
            case clientID = "client_id"
            case releaseTitle = "release_title"
            case savePath = "save_path"
        }
    }

    /// The `search_indexers` payload that searches for this request;
    /// `manual` searches now even if the book is not yet released.
    public func searchPayload(manual: Bool = false) -> JSONValue {
        var payload: [String: JSONValue] = ["request_id": .string(id), "book": book]
        if manual { payload["manual"] = .bool(true) }
        return .object(payload)
    }

    /// The `organize_files` payload that imports this request's finished
    /// download again, or nil when it has none with a known path.
    public var importPayload: OrganizeFilesPayload? {
        guard let download, download.status == "completed", let path = download.savePath, !path.isEmpty else { return nil }
        return OrganizeFilesPayload(
            requestID: id, book: book, downloadPath: path, client: download.client, infoHash: download.clientID,
            releaseTitle: download.releaseTitle)
    }
}

/// What `find_requests` selects: requests in some statuses, oldest first by
/// one of their times, at most `limit`.
public struct RequestQuery: Sendable, Equatable, Codable {
    /// The time that orders the selection, oldest (and never stamped) first.
    public enum Order: String, Sendable, Codable {
        case createdAt = "created_at"
        case lastSearchAt = "last_search_at"
        case lastImportAt = "last_import_at"
    }

    public var status: [String]
    public var order: Order?
    public var limit: Int?

    public init(status: [String], order: Order? = nil, limit: Int? = nil) {
        self.status = status
        self.order = order
        self.limit = limit
    }

    /// The most requests one query returns.
    public static let maximumLimit = 500
}
