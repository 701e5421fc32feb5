import Foundation
import PipelineJSON

/// A download client as the host's download jobs use it, whatever it is
/// written in: a Swift ``DownloadClient``, or a C plugin's
/// `pp_download_client` table. The host's jobs are written once over this.
public protocol DownloadClientDriver: Sendable {
    /// The short name recorded with each download: `qbittorrent`, `deluge`.
    var kind: String { get }
    /// The client's name for people, in log lines and errors.
    var displayName: String { get }
    /// The protocols it takes.
    var protocols: Set<ReleaseProtocol> { get }

    /// Adds `item` and returns the client's id for it (a torrent's info hash).
    /// Adding what the client already has succeeds with the same id.
    func add(_ item: DownloadItem) async throws(DownloadClientError) -> String
    /// The download `id`, or nil when the client does not have it.
    func status(of id: String) async throws(DownloadClientError) -> DownloadStatus?
    /// Removes the download, with its data when `deletingData`; succeeds
    /// when the client does not have it.
    func remove(_ id: String, deletingData: Bool) async throws(DownloadClientError)
    /// Checks the client answers and takes the credentials; returns its version.
    func testConnection() async throws(DownloadClientError) -> String
}

/// How a release travels: BitTorrent or usenet (NZB).
public enum ReleaseProtocol: String, Sendable, Hashable, Codable, CaseIterable {
    case torrent
    case usenet
}

/// What a driver's `add` receives: the release, as the host fetched it, and
/// the instance's add options. Its JSON is the `item_json` of the ABI.
public struct DownloadItem: Sendable, Equatable {
    public enum Source: Sendable, Equatable {
        case torrentFile(Data)
        case magnet(String)
        case nzbFile(Data)
    }

    public var name: String
    public var source: Source
    /// A torrent's v1 info hash, 40 lower-case hex digits.
    public var infoHash: String?
    public var options: AddOptions

    public init(name: String, source: Source, infoHash: String?, options: AddOptions = AddOptions()) {
        self.name = name
        self.source = source
        self.infoHash = infoHash
        self.options = options
    }

    public var releaseProtocol: ReleaseProtocol {
        if case .nzbFile = source { return .usenet }
        return .torrent
    }

    /// The item as the ABI's `item_json`.
    public var json: JSONValue {
        var object: [String: JSONValue] = ["protocol": .string(releaseProtocol.rawValue), "name": .string(name)]
        switch source {
        case .torrentFile(let data): object["torrent_base64"] = .string(data.base64EncodedString())
        case .magnet(let link): object["magnet"] = .string(link)
        case .nzbFile(let data): object["nzb_base64"] = .string(data.base64EncodedString())
        }
        if let infoHash { object["info_hash"] = .string(infoHash) }
        if let category = options.category { object["category"] = .string(category) }
        if !options.tags.isEmpty { object["tags"] = .array(options.tags.map(JSONValue.string)) }
        if let savePath = options.savePath { object["save_path"] = .string(savePath) }
        return .object(object)
    }

    /// Reads an `item_json`; nil when it is not one.
    public init?(json: JSONValue) {
        guard let name = json["name"]?.stringValue else { return nil }
        if let text = json["torrent_base64"]?.stringValue, let data = Data(base64Encoded: text) {
            source = .torrentFile(data)
        } else if let link = json["magnet"]?.stringValue {
            source = .magnet(link)
        } else if let text = json["nzb_base64"]?.stringValue, let data = Data(base64Encoded: text) {
            source = .nzbFile(data)
        } else {
            return nil
        }
        self.name = name
        infoHash = json["info_hash"]?.stringValue
        options = AddOptions(
            category: json["category"]?.stringValue, tags: json["tags"]?.arrayValue?.compactMap(\.stringValue) ?? [],
            savePath: json["save_path"]?.stringValue)
    }
}

extension DownloadStatus {
    /// The status as the ABI's `status` result.
    public var json: JSONValue {
        var object: [String: JSONValue] = [
            "id": .string(infoHash), "name": .string(name), "state": .string(state.rawValue), "progress": .double(progress),
            "size_bytes": sizeBytes.map(JSONValue.int) ?? .null, "download_rate": .int(downloadRate),
            "content_path": contentPath.map(JSONValue.string) ?? .null,
        ]
        if let finalSavePath { object["final_save_path"] = .string(finalSavePath) }
        if let temporaryPath { object["temporary_path"] = .string(temporaryPath) }
        if let errorMessage { object["error"] = .string(errorMessage) }
        if let ratio, ratio.isFinite { object["ratio"] = .double(ratio) }
        if let seedingSeconds { object["seeding_seconds"] = .int(seedingSeconds) }
        return .object(object)
    }

    /// Reads a driver's `status` result for the download `id`.
    ///
    /// - Throws: a description of what is wrong, when it is not a status.
    public init(id: String, json: JSONValue) throws(DownloadClientError) {
        guard case .object = json else { throw .unexpected("the status of \(id) is not an object") }
        guard let stateName = json["state"]?.stringValue else { throw .unexpected("the status of \(id) has no \"state\"") }
        guard let state = State(rawValue: stateName) else {
            throw .unexpected(
                "the status of \(id) has state '\(stateName.prefix(40))', not one of "
                    + State.allNames.joined(separator: ", "))
        }
        let progress = json["progress"]?.doubleValue ?? 0
        self.init(
            infoHash: id, name: json["name"]?.stringValue ?? id, state: state, progress: progress.isFinite ? progress : 0,
            sizeBytes: json["size_bytes"]?.intValue, downloadRate: json["download_rate"]?.intValue ?? 0,
            contentPath: json["content_path"]?.stringValue, finalSavePath: json["final_save_path"]?.stringValue,
            temporaryPath: json["temporary_path"]?.stringValue, errorMessage: json["error"]?.stringValue,
            ratio: json["ratio"]?.doubleValue, seedingSeconds: json["seeding_seconds"]?.intValue)
    }
}

extension DownloadStatus.State {
    static var allNames: [String] {
        let all: [Self] = [.metadata, .queued, .checking, .downloading, .stalled, .paused, .moving, .completed, .failed]
        return all.map(\.rawValue)
    }
}
