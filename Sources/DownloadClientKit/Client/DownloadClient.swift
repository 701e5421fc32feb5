import CheckedArithmetic
import Foundation
@_exported import PipelinePayloads
import PluginKit

/// A torrent client written in Swift: four calls.
///
/// Implement this for a new client and export ``DownloadClientPlugin`` over
/// it: the plugin then offers the download-client interface of the ABI
/// (`PP_EXTENSION_DOWNLOAD_CLIENT`), and the host runs `download_torrent` and
/// `monitor_download` over it (fetching the release, trying alternates,
/// polling with backoff, the temp-path wait, path mapping, progress and the
/// request's status). docs/writing-a-download-client.md walks through one.
///
/// Every call may run on several worker threads at once: keep mutable state
/// (a session cookie) in an actor or behind a lock.
public protocol DownloadClient: Sendable {
    /// The plugin's identity. Its job types are left empty: the host runs
    /// the download jobs over the interface (any listed are ignored).
    static var pluginInfo: PluginInfo { get }

    /// The short name recorded in `download_history.client` and in job
    /// payloads: `qbittorrent`, `transmission`, ….
    static var clientKind: String { get }

    /// The client's name for people, in log lines and errors.
    static var displayName: String { get }

    /// Creates the client from its connection settings.
    ///
    /// - Parameter configuration: the whole `config` object, for settings of
    ///   the client's own beyond ``DownloadClientSettings``.
    /// - Throws: a ``PluginError`` naming the setting at fault.
    init(settings: DownloadClientSettings, configuration: PluginConfiguration, host: PluginHost) throws

    /// Adds a torrent and returns its info hash (40 lower-case hex digits).
    ///
    /// Adding a torrent the client already has must succeed and return its
    /// hash: a job that runs twice adds nothing twice.
    func add(_ torrent: TorrentSource, options: AddOptions) async throws(DownloadClientError) -> String

    /// The download with `infoHash`, or nil when the client does not have it.
    func status(of infoHash: String) async throws(DownloadClientError) -> DownloadStatus?

    /// Removes the download, with its data when `deletingData`. Removing a
    /// download the client does not have succeeds.
    func remove(_ infoHash: String, deletingData: Bool) async throws(DownloadClientError)

    /// Checks that the client answers and accepts the credentials; returns
    /// its version for the log.
    func testConnection() async throws(DownloadClientError) -> String
}

/// The job types a download-client plugin handles.
public enum DownloadJobTypes {
    public static let download = "download_torrent"
    public static let monitor = "monitor_download"
    /// The job a finished download is handed to.
    public static let organize = "organize_files"
    /// The search a request goes back to when no release of it is left to try.
    public static let search = "search_indexers"
    /// The scheduled job that removes torrents that have seeded enough.
    public static let cleanup = "cleanup_seeded_torrents"
    public static let all = [download, monitor, cleanup]
}

/// What to add: a .torrent file or a magnet link, with its info hash.
public enum TorrentSource: Sendable, Equatable {
    /// A .torrent file's bytes.
    case metainfo(Data, infoHash: String)
    /// A magnet URI.
    case magnet(String, infoHash: String)

    /// The torrent's v1 info hash, 40 lower-case hex digits.
    public var infoHash: String {
        switch self {
        case .metainfo(_, let hash), .magnet(_, let hash): return hash
        }
    }
}

/// How to add a torrent.
public struct AddOptions: Sendable, Equatable {
    /// The category (qBittorrent) or label (Transmission), if any.
    public var category: String?
    /// Extra tags or labels.
    public var tags: [String]
    /// The directory the client saves into, as the client sees it; nil
    /// leaves it to the client.
    public var savePath: String?

    public init(category: String? = nil, tags: [String] = [], savePath: String? = nil) {
        self.category = category
        self.tags = tags
        self.savePath = savePath
    }
}

/// A download as the client reports it.
public struct DownloadStatus: Sendable, Equatable {
    /// What the client is doing with the download.
    public enum State: String, Sendable, Equatable, Codable {
        /// Fetching a magnet's metadata.
        case metadata
        case queued
        case checking
        case downloading
        /// Downloading, but nothing arrives (no peers).
        case stalled
        case paused
        /// Moving the data (from a temp folder to the save path).
        case moving
        /// All data is there (seeding or finished).
        case completed
        /// The client reports the download in error: it will not finish by itself.
        case failed
    }

    public var infoHash: String
    public var name: String
    public var state: State
    /// 0 to 1.
    public var progress: Double
    /// The size of what is downloaded, nil while it is unknown (a magnet without metadata).
    public var sizeBytes: Int64?
    /// Bytes per second, now.
    public var downloadRate: Int64
    /// Where the data is, as the client sees it: the torrent's folder, or its
    /// file for a single-file torrent. Nil while unknown.
    public var contentPath: String?
    /// Where the client will keep the finished data, when it moves downloads
    /// from a temp folder on completion (qBittorrent); nil otherwise.
    public var finalSavePath: String?
    /// The client's temp folder for unfinished downloads, when it uses one:
    /// data still inside it has not been moved yet.
    public var temporaryPath: String?
    /// The client's words for a failed download.
    public var errorMessage: String?
    /// Uploaded over downloaded, as the client reports it, at most 1,000,000;
    /// nil when the client does not know.
    public var ratio: Double?
    /// The seconds spent seeding since the download completed; nil when the
    /// client does not know.
    public var seedingSeconds: Int64?

    public init(
        infoHash: String, name: String, state: State, progress: Double, sizeBytes: Int64?, downloadRate: Int64 = 0,
        contentPath: String?, finalSavePath: String? = nil, temporaryPath: String? = nil, errorMessage: String? = nil,
        ratio: Double? = nil, seedingSeconds: Int64? = nil
    ) {
        self.infoHash = infoHash
        self.name = name
        self.state = state
        // A client's figures are outside input: held to what they can mean.
        self.progress = progress.clamped(to: 0...1)
        self.sizeBytes = sizeBytes.map { max(0, $0) }
        self.downloadRate = max(0, downloadRate)
        self.contentPath = contentPath
        self.finalSavePath = finalSavePath
        self.temporaryPath = temporaryPath
        self.errorMessage = errorMessage
        // A negative or non-finite ratio (Transmission's -1 and -2) is not known.
        self.ratio = ratio.flatMap { $0.isFinite && $0 >= 0 ? min($0, 1_000_000) : nil }
        self.seedingSeconds = seedingSeconds.flatMap { $0 >= 0 ? $0 : nil }
    }

    /// Whether all the data is there: the client says so, the size is known
    /// (a magnet without metadata reports nothing left of nothing) and the
    /// progress is whole.
    public var isComplete: Bool {
        state == .completed && progress >= 1 && (sizeBytes ?? 0) > 0
    }
}

/// Why a download client call failed. The case decides what the jobs do.
public enum DownloadClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The client could not be reached or answered 5xx: transient. The
    /// monitor backs off and keeps the request `downloading`.
    case unreachable(String)
    /// The client refused the credentials: permanent until the configuration
    /// changes. The message names the settings to fix.
    case authenticationFailed(String)
    /// The client refused this torrent (not a valid torrent, say): the next
    /// release is tried.
    case rejected(String)
    /// The client answered something this plugin does not understand: transient.
    case unexpected(String)

    public var description: String {
        switch self {
        case .unreachable(let message), .authenticationFailed(let message), .rejected(let message),
            .unexpected(let message):
            return message
        }
    }
}
