import Foundation
import PluginHTTP
import PluginKit

/// The settings every download-client plugin reads from its `config` in
/// pipeline.yaml (docs/configuration.md, "Download clients").
public struct DownloadClientSettings: Sendable, Decodable {
    /// The client's base URL: `http://127.0.0.1:8080` (qBittorrent),
    /// `http://127.0.0.1:9091` (Transmission).
    public var url: URL
    public var username: String
    public var password: String
    /// The category or label given to every download.
    public var category: String?
    /// Extra tags or labels.
    public var tags: [String]
    /// Where the client saves downloads, as the client sees it.
    public var savePath: String?
    /// Client paths to local paths, for a client in another container or host.
    public var pathMappings: PathMappings
    /// Sent as `X-Api-Key` when fetching a .torrent URL (Prowlarr's download links need it).
    public var indexerAPIKey: String?
    /// How long one call to the client or the indexer may take.
    public var requestTimeout: Duration
    /// The monitor's timing and limits.
    public var monitor: MonitorPolicy
    /// How long after the add the first poll runs.
    public var firstPollDelay: Duration
    /// Releases tried per download_torrent job: the chosen one and its alternates.
    public var maxReleases: Int

    enum CodingKeys: String, CodingKey {
        case url, username, password, category, tags
        case savePath = "save_path"
        case pathMappings = "path_mappings"
        case indexerAPIKey = "indexer_api_key"
        case requestTimeout = "request_timeout"
        case pollInterval = "poll_interval"
        case maxPollInterval = "max_poll_interval"
        case maxConnectionFailures = "max_connection_failures"
        case missingPolls = "missing_polls"
        case maxPathWaits = "max_path_waits"
        case firstPollDelay = "first_poll_delay"
        case maxReleases = "max_releases"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let text = try container.decode(String.self, forKey: .url)
        guard let url = URL.serverBase(text)
        else {
            throw DecodingError.dataCorruptedError(
                forKey: .url, in: container, debugDescription: "'\(text)' is not an http(s) URL such as http://127.0.0.1:8080")
        }
        self.url = url
        username = try container.decodeIfPresent(String.self, forKey: .username) ?? ""
        password = try container.decodeIfPresent(String.self, forKey: .password) ?? ""
        category = try container.decodeIfPresent(String.self, forKey: .category).flatMap { $0.isEmpty ? nil : $0 }
        tags = try container.decodeIfPresent([String].self, forKey: .tags) ?? []
        for label in tags + [category].compactMap({ $0 }) where label.contains(",") || label.trimmingCharacters(in: .whitespaces).isEmpty {
            throw DecodingError.dataCorruptedError(
                forKey: label == category ? .category : .tags, in: container,
                debugDescription: "'\(label)' cannot be a label: labels are not blank and hold no commas")
        }
        savePath = try container.decodeIfPresent(String.self, forKey: .savePath).flatMap { $0.isEmpty ? nil : $0 }
        pathMappings = PathMappings(try container.decodeIfPresent([PathMapping].self, forKey: .pathMappings) ?? [])
        indexerAPIKey = try container.decodeIfPresent(String.self, forKey: .indexerAPIKey).flatMap { $0.isEmpty ? nil : $0 }
        func duration(_ key: CodingKeys, _ fallback: Duration) throws -> Duration {
            guard let value = try container.decodeIfPresent(SettingDuration.self, forKey: key) else { return fallback }
            guard value.duration > .zero else {
                throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "must be longer than 0s")
            }
            return value.duration
        }
        func count(_ key: CodingKeys, _ fallback: Int) throws -> Int {
            guard let value = try container.decodeIfPresent(Int.self, forKey: key) else { return fallback }
            guard value >= 1 else {
                throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "must be at least 1")
            }
            return value
        }
        requestTimeout = try duration(.requestTimeout, .seconds(30))
        firstPollDelay = try duration(.firstPollDelay, .seconds(3))
        maxReleases = try count(.maxReleases, 10)
        let defaults = MonitorPolicy()
        monitor = MonitorPolicy(
            pollInterval: try duration(.pollInterval, defaults.pollInterval),
            maxPollInterval: try duration(.maxPollInterval, defaults.maxPollInterval),
            maxConnectionFailures: try count(.maxConnectionFailures, defaults.maxConnectionFailures),
            missingPolls: try count(.missingPolls, defaults.missingPolls),
            maxPathWaits: try count(.maxPathWaits, defaults.maxPathWaits))
        if monitor.maxPollInterval < monitor.pollInterval {
            throw DecodingError.dataCorruptedError(
                forKey: .maxPollInterval, in: container, debugDescription: "must not be shorter than poll_interval")
        }
    }

    /// The add options these settings give: tags trimmed, without repeats
    /// and without the category.
    public var addOptions: AddOptions {
        var seen: Set<String> = Set([category].compactMap { $0 })
        let unique = tags.map { $0.trimmingCharacters(in: .whitespaces) }.filter { seen.insert($0).inserted }
        return AddOptions(category: category, tags: unique, savePath: savePath)
    }
}

/// A duration in a plugin's settings: a number of seconds, or a string such
/// as `500ms`, `10s`, `5m`, `1h`.
struct SettingDuration: Decodable {
    var duration: Duration

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let seconds = try? container.decode(Double.self) {
            duration = .milliseconds(Int64((seconds * 1000).rounded()))
            return
        }
        let text = try container.decode(String.self).trimmingCharacters(in: .whitespaces)
        let units: [(String, Double)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            if let number = Double(text.dropLast(suffix.count)), number >= 0 {
                duration = .milliseconds(Int64((number * factor).rounded()))
                return
            }
        }
        throw DecodingError.dataCorruptedError(
            in: container, debugDescription: "'\(text)' is not a duration: write a number of seconds or e.g. 500ms, 10s, 5m")
    }
}
