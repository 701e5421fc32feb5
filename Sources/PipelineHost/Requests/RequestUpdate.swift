import Foundation

/// What a plugin's request transition may carry besides the move, read from
/// its details object (docs/plugin-abi.md, "Request transitions"):
///
/// ```json
/// {"reason": "…", "progress": 42.5,
///  "download": {"client": "qbittorrent", "client_id": "<info hash>", "status": "downloading", …},
///  "blocklist": {"release_title": "…", "release_id": "<info hash>", "reason": "…"}}
/// ```
///
/// `progress` and `download` apply even when the request already has the
/// status asked for (a poller reporting progress asks for the status the
/// request is in); nothing applies when the move is refused.
public struct RequestUpdate: Sendable, Equatable {
    /// Why the request moved: kept in `requests.status_reason` with a move.
    public var reason: String?
    /// The request's progress, 0 to 100.
    public var progress: Double?
    /// A download to record in `download_history`.
    public var download: DownloadRecord?
    /// Set to add one to `requests.import_attempts`.
    public var countsImportAttempt: Bool
    /// With an import attempt that moves the request to `awaiting_import`:
    /// when the count reaches this, the request moves to `warn` instead (no
    /// more automatic retries).
    public var maxImportAttempts: Int?
    /// A release not to take again for this request, with why
    /// (`release_blocklist`).
    public var blocklist: BlocklistEntry?

    public init(
        reason: String? = nil, progress: Double? = nil, download: DownloadRecord? = nil, countsImportAttempt: Bool = false,
        maxImportAttempts: Int? = nil, blocklist: BlocklistEntry? = nil
    ) {
        self.blocklist = blocklist
        self.reason = reason
        self.progress = progress
        self.download = download
        self.countsImportAttempt = countsImportAttempt
        self.maxImportAttempts = maxImportAttempts
    }

    /// A details object that does not hold what its keys promise.
    public struct Malformed: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// Reads a details object (JSON text, or nil for none).
    ///
    /// - Throws: ``Malformed`` naming the key at fault, for a key this type
    ///   reads whose value has the wrong shape. Other keys are ignored.
    public init(detailsJSON: String?) throws(Malformed) {
        self.init()
        guard let detailsJSON else { return }
        let wire: Wire
        do {
            wire = try JSONDecoder().decode(Wire.self, from: Data(detailsJSON.utf8))
        } catch let DecodingError.typeMismatch(_, context) where !context.codingPath.isEmpty {
            throw Malformed(description: "details.\(Self.path(context.codingPath)) has the wrong type")
        } catch let DecodingError.keyNotFound(key, context) {
            throw Malformed(description: "details.\(Self.path(context.codingPath + [key])) is required")
        } catch let DecodingError.dataCorrupted(context) {
            throw Malformed(description: "details.\(Self.path(context.codingPath)): \(context.debugDescription)")
        } catch {
            throw Malformed(description: "details must be a JSON object")
        }
        if let progress = wire.progress {
            guard progress.isFinite, (0...100).contains(progress) else {
                throw Malformed(description: "details.progress must be from 0 to 100, not \(progress)")
            }
        }
        if let download = wire.download {
            guard !download.client.isEmpty, !download.clientID.isEmpty else {
                throw Malformed(description: "details.download.client and client_id must not be empty")
            }
            guard DownloadRecord.statuses.contains(download.status) else {
                throw Malformed(
                    description: "details.download.status must be one of \(DownloadRecord.statuses.sorted().joined(separator: ", ")), not '\(download.status)'")
            }
            if let size = download.sizeBytes, size < 0 { throw Malformed(description: "details.download.size_bytes must not be negative") }
        }
        if let entry = wire.blocklist {
            if let problem = entry.problem { throw Malformed(description: "details.blocklist.\(problem)") }
        }
        if let max = wire.maxImportAttempts, max < 1 {
            throw Malformed(description: "details.max_import_attempts must be at least 1")
        }
        reason = wire.reason
        progress = wire.progress
        download = wire.download
        countsImportAttempt = wire.importAttempt ?? false
        maxImportAttempts = wire.maxImportAttempts
        blocklist = wire.blocklist
    }

    private struct Wire: Decodable {
        var reason: String?
        var progress: Double?
        var download: DownloadRecord?
        var importAttempt: Bool?
        var maxImportAttempts: Int?
        var blocklist: BlocklistEntry?

        enum CodingKeys: String, CodingKey {
            case reason, progress, download, blocklist
            case importAttempt = "import_attempt"
            case maxImportAttempts = "max_import_attempts"
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.map(\.stringValue).joined(separator: ".")
    }
}

/// One download of a request, as `download_history` keeps it: one row per
/// (request, client, client id), updated as the download goes on.
public struct DownloadRecord: Sendable, Equatable, Codable {
    /// The download client: `qbittorrent`, `transmission`, ….
    public var client: String
    /// The client's id for the download (a torrent's info hash).
    public var clientID: String
    /// `downloading`, `completed`, `failed` or `removed`.
    public var status: String
    public var releaseTitle: String?
    public var sizeBytes: Int64?
    /// Where the release came from (secrets in its query removed by the plugin).
    public var sourceURL: String?
    /// Where the finished download is, as the host sees the file system.
    public var savePath: String?
    public var error: String?
    /// The `download_clients` instance that has the download (set by the
    /// host for the jobs it routes; nil for a job type bound to one plugin).
    public var clientInstance: String?
    /// The indexer the release came from, as the search named it.
    public var indexer: String?

    static let statuses: Set<String> = ["downloading", "completed", "failed", "removed"]

    enum CodingKeys: String, CodingKey {
        case client, status, error
        case clientID = "client_id"
        case releaseTitle = "release_title"
        case sizeBytes = "size_bytes"
        case sourceURL = "source_url"
        case savePath = "save_path"
        case clientInstance = "client_instance"
        case indexer
    }

    public init(
        client: String, clientID: String, status: String, releaseTitle: String? = nil, sizeBytes: Int64? = nil,
        sourceURL: String? = nil, savePath: String? = nil, error: String? = nil, clientInstance: String? = nil,
        indexer: String? = nil
    ) {
        self.indexer = indexer
        self.client = client
        self.clientID = clientID
        self.status = status
        self.releaseTitle = releaseTitle
        self.sizeBytes = sizeBytes
        self.sourceURL = sourceURL
        self.savePath = savePath
        self.error = error
        self.clientInstance = clientInstance
    }
}

/// A release a request must not take again, and why: written by the download
/// jobs when a download fails in its client, read back into every search for
/// the request (`release_blocklist`).
public struct BlocklistEntry: Sendable, Equatable, Codable {
    public var releaseTitle: String
    /// The release's info hash, when it is a torrent; nil otherwise.
    public var releaseID: String?
    public var indexer: String?
    /// `torrent` or `usenet`, when known.
    public var `protocol`: String?
    public var reason: String

    /// The longest text a field may hold, in bytes.
    static let maximumFieldBytes = 4_096

    enum CodingKeys: String, CodingKey {
        case indexer, reason
        case releaseTitle = "release_title"
        case releaseID = "release_id"
        case `protocol` = "protocol"
    }

    public init(releaseTitle: String, releaseID: String? = nil, indexer: String? = nil, protocol: String? = nil, reason: String) {
        self.releaseTitle = releaseTitle
        self.releaseID = releaseID
        self.indexer = indexer
        self.protocol = `protocol`
        self.reason = reason
    }

    /// What is wrong with the entry, as "<key> …", or nil when it can be kept.
    var problem: String? {
        if releaseTitle.trimmingCharacters(in: .whitespaces).isEmpty { return "release_title must not be empty" }
        if reason.trimmingCharacters(in: .whitespaces).isEmpty { return "reason must not be empty" }
        for (key, value) in [("release_title", releaseTitle), ("release_id", releaseID), ("indexer", indexer), ("protocol", `protocol`), ("reason", reason)] {
            if let value, value.utf8.count > Self.maximumFieldBytes {
                return "\(key) is longer than \(Self.maximumFieldBytes) bytes"
            }
        }
        return nil
    }
}
