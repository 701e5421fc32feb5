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
    /// The releases this request must not take again (newest first, at most
    /// ``maximumBlocklist``); nil from a host before the blocklist existed.
    public var blocklist: [BlockedRelease]?

    /// The most blocklisted releases a snapshot carries.
    public static let maximumBlocklist = 200

    public init(
        id: String, status: String, statusReason: String? = nil, book: JSONValue, releaseDate: String? = nil,
        searchAttempts: Int = 0, importAttempts: Int = 0, lastSearchAt: String? = nil, lastImportAt: String? = nil,
        createdAt: String, download: DownloadRecord? = nil, blocklist: [BlockedRelease]? = nil
    ) {
        self.blocklist = blocklist
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
        case id, status, book, download, blocklist
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
        /// The `download_clients` instance that has it, when the host routed it.
        public var clientInstance: String?
        /// The indexer the release came from, when the search named it.
        public var indexer: String?

        public init(
            client: String, clientID: String?, releaseTitle: String, status: String, savePath: String?,
            clientInstance: String? = nil, indexer: String? = nil
        ) {
            self.clientInstance = clientInstance
            self.indexer = indexer
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
            case clientInstance = "client_instance"
            case indexer
        }
    }

    /// A release blocklisted for the request: its title, and its info hash
    /// when it is a torrent.
    public struct BlockedRelease: Sendable, Equatable, Codable {
        public var releaseTitle: String
        public var releaseID: String?

        public init(releaseTitle: String, releaseID: String? = nil) {
            self.releaseTitle = releaseTitle
            self.releaseID = releaseID
        }

        enum CodingKeys: String, CodingKey {
            case releaseTitle = "release_title"
            case releaseID = "release_id"
        }
    }

    /// The `search_indexers` payload that searches for this request;
    /// `manual` searches now even if the book is not yet released. It
    /// carries the request's blocklist (titles and info hashes), which the
    /// search passes over.
    public func searchPayload(manual: Bool = false) -> JSONValue {
        var payload: [String: JSONValue] = ["request_id": .string(id), "book": book]
        if manual { payload["manual"] = .bool(true) }
        let blocked = Self.blocklistKeys(blocklist ?? [])
        if !blocked.isEmpty { payload["blocklist"] = .array(blocked.map(JSONValue.string)) }
        return .object(payload)
    }

    /// What a search compares against each result: every title and info
    /// hash, once each, in order.
    public static func blocklistKeys(_ entries: [BlockedRelease]) -> [String] {
        var seen = Set<String>()
        var keys: [String] = []
        for entry in entries {
            for key in [entry.releaseTitle, entry.releaseID].compactMap({ $0 }) where seen.insert(key.lowercased()).inserted {
                keys.append(key)
            }
        }
        return keys
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
        /// The last change to the request's latest download: the least
        /// recently touched download first.
        case downloadUpdatedAt = "download_updated_at"
    }

    /// Selects by the request's latest download (``RequestSnapshot/download``);
    /// every member given must hold.
    public struct DownloadFilter: Sendable, Equatable, Codable {
        /// Its status is one of these.
        public var status: [String]?
        /// Its client id (a torrent's info hash) is this, compared without regard to case.
        public var clientID: String?
        /// It is in this `download_clients` instance, or, recorded without an
        /// instance, in a client of kind ``client``.
        public var clientInstance: String?
        public var client: String?

        public init(status: [String]? = nil, clientID: String? = nil, clientInstance: String? = nil, client: String? = nil) {
            self.status = status
            self.clientID = clientID
            self.clientInstance = clientInstance
            self.client = client
        }

        enum CodingKeys: String, CodingKey {
            case status, client
            case clientID = "client_id"
            case clientInstance = "client_instance"
        }
    }

    public var status: [String]
    public var order: Order?
    public var limit: Int?
    /// Since the seeding cleanup; a host before it ignores the member.
    public var download: DownloadFilter?

    public init(status: [String], order: Order? = nil, limit: Int? = nil, download: DownloadFilter? = nil) {
        self.status = status
        self.order = order
        self.limit = limit
        self.download = download
    }

    /// The most requests one query returns.
    public static let maximumLimit = 500
}
