import DownloadClientKit
import PipelinePayloads
import PluginKit

/// The payload of `monitor_download`: which download to watch, and the
/// monitor's memory between polls.
public struct MonitorDownloadPayload: Sendable, Equatable, Codable {
    public var requestID: String?
    public var book: JSONValue?
    /// The client kind that has the download (``DownloadClient/clientKind``).
    public var client: String
    public var infoHash: String
    public var releaseTitle: String?
    public var monitor: MonitorState
    /// The releases to try, in order, should this one fail in the client.
    public var alternates: [Release]
    /// The releases that failed in the client before this one, with reasons.
    public var tried: [String]
    /// What the request's search passed over (``DownloadTorrentPayload/blocklist``).
    public var blocklist: [String]
    /// The indexer and protocol of the release, for its blocklist entry should it fail.
    public var indexer: String?
    public var releaseProtocol: String?

    enum CodingKeys: String, CodingKey {
        case book, client, monitor, indexer
        case requestID = "request_id"
        case infoHash = "info_hash"
        case releaseTitle = "release_title"
        case releaseProtocol = "release_protocol"
        case alternates, tried, blocklist
    }

    public init(
        requestID: String?, book: JSONValue? = nil, client: String, infoHash: String, releaseTitle: String? = nil,
        monitor: MonitorState = MonitorState(), alternates: [Release] = [], tried: [String] = [], blocklist: [String] = [],
        indexer: String? = nil, releaseProtocol: String? = nil
    ) {
        self.blocklist = blocklist
        self.indexer = indexer
        self.releaseProtocol = releaseProtocol
        self.alternates = alternates
        self.tried = tried
        self.requestID = requestID
        self.book = book
        self.client = client
        self.infoHash = infoHash
        self.releaseTitle = releaseTitle
        self.monitor = monitor
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        requestID = try container.decodeIfPresent(String.self, forKey: .requestID)
        book = try container.decodeIfPresent(JSONValue.self, forKey: .book)
        client = try container.decode(String.self, forKey: .client)
        infoHash = try container.decode(String.self, forKey: .infoHash)
        releaseTitle = try container.decodeIfPresent(String.self, forKey: .releaseTitle)
        monitor = try container.decodeIfPresent(MonitorState.self, forKey: .monitor) ?? MonitorState()
        alternates = try container.decodeIfPresent([Release].self, forKey: .alternates) ?? []
        tried = try container.decodeIfPresent([String].self, forKey: .tried) ?? []
        blocklist = try container.decodeIfPresent([String].self, forKey: .blocklist) ?? []
        indexer = try container.decodeIfPresent(String.self, forKey: .indexer)
        releaseProtocol = try container.decodeIfPresent(String.self, forKey: .releaseProtocol)
    }
}

