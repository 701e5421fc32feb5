import PipelineJSON

// The payloads the pipeline's job types hand each other, shared by the
// plugins that produce and consume them (docs/job-payloads.md).

/// A release an indexer offered, as `search_indexers` hands it on.
public struct Release: Sendable, Equatable, Codable {
    public var title: String
    /// Where to fetch the .torrent (or a redirect to a magnet).
    public var downloadURL: String?
    public var magnetURL: String?
    public var infoHash: String?
    public var sizeBytes: Int64?
    public var seeders: Int?
    public var leechers: Int?
    public var indexer: String?
    public var indexerID: Int?
    /// `torrent` or `usenet`.
    public var `protocol`: String?
    public var guid: String?
    public var infoURL: String?

    enum CodingKeys: String, CodingKey {
        case title, seeders, leechers, indexer, guid
        case downloadURL = "download_url"
        case magnetURL = "magnet_url"
        case infoHash = "info_hash"
        case sizeBytes = "size_bytes"
        case indexerID = "indexer_id"
        case `protocol` = "protocol"
        case infoURL = "info_url"
    }

    public init(
        title: String, downloadURL: String? = nil, magnetURL: String? = nil, infoHash: String? = nil,
        sizeBytes: Int64? = nil, seeders: Int? = nil, leechers: Int? = nil, indexer: String? = nil,
        indexerID: Int? = nil, protocol: String? = "torrent", guid: String? = nil, infoURL: String? = nil
    ) {
        self.title = title
        self.downloadURL = downloadURL
        self.magnetURL = magnetURL
        self.infoHash = infoHash
        self.sizeBytes = sizeBytes
        self.seeders = seeders
        self.leechers = leechers
        self.indexer = indexer
        self.indexerID = indexerID
        self.protocol = `protocol`
        self.guid = guid
        self.infoURL = infoURL
    }
}

/// The payload of `download_torrent`.
public struct DownloadTorrentPayload: Sendable, Equatable, Codable {
    /// The request the download is for; nil for a download outside any request.
    public var requestID: String?
    /// The book (``BookFields`` keys), passed through to `organize_files` as it is.
    public var book: JSONValue?
    /// The release chosen.
    public var release: Release
    /// The next best releases, tried in order when the chosen one cannot be
    /// fetched or added, or fails in the client.
    public var alternates: [Release]
    /// The releases of this download that failed in the client already, each
    /// with its reason: said when nothing is left to try.
    public var tried: [String]
    /// The titles and info hashes the request's search passed over as
    /// blocklisted: carried on, so that a search after a failure in the
    /// client passes over them too.
    public var blocklist: [String]

    enum CodingKeys: String, CodingKey {
        case book, release, alternates, tried, blocklist
        case requestID = "request_id"
    }

    public init(
        requestID: String?, book: JSONValue? = nil, release: Release, alternates: [Release] = [], tried: [String] = [],
        blocklist: [String] = []
    ) {
        self.blocklist = blocklist
        self.requestID = requestID
        self.book = book
        self.release = release
        self.alternates = alternates
        self.tried = tried
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        requestID = try container.decodeIfPresent(String.self, forKey: .requestID)
        book = try container.decodeIfPresent(JSONValue.self, forKey: .book)
        release = try container.decode(Release.self, forKey: .release)
        alternates = try container.decodeIfPresent([Release].self, forKey: .alternates) ?? []
        tried = try container.decodeIfPresent([String].self, forKey: .tried) ?? []
        blocklist = try container.decodeIfPresent([String].self, forKey: .blocklist) ?? []
    }
}

/// The payload of `organize_files`, as a finished download enqueues it.
public struct OrganizeFilesPayload: Sendable, Equatable, Codable {
    public var requestID: String?
    public var book: JSONValue?
    /// The finished download, as the host sees it (after path mapping).
    public var downloadPath: String
    /// The client and torrent it came from; nil for an import by hand.
    public var client: String?
    public var infoHash: String?
    public var releaseTitle: String?

    enum CodingKeys: String, CodingKey {
        case book, client
        case requestID = "request_id"
        case downloadPath = "download_path"
        case infoHash = "info_hash"
        case releaseTitle = "release_title"
    }

    public init(
        requestID: String?, book: JSONValue?, downloadPath: String, client: String? = nil, infoHash: String? = nil,
        releaseTitle: String? = nil
    ) {
        self.requestID = requestID
        self.book = book
        self.downloadPath = downloadPath
        self.client = client
        self.infoHash = infoHash
        self.releaseTitle = releaseTitle
    }
}

/// The keys of a payload's `book` object that the pipeline reads.
public enum BookFields {
    public static let title = "title"
    public static let author = "author"
    public static let asin = "asin"
    public static let isbn = "isbn"
    public static let narrator = "narrator"
    public static let series = "series"
    public static let seriesPart = "series_part"
    public static let year = "year"
}
