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
    /// Sent as `X-Api-Key` when fetching a .torrent URL from ``indexerURL``
    /// (Prowlarr's download links need it), and to no other origin.
    public var indexerAPIKey: String?
    /// The indexer (Prowlarr) whose download links get ``indexerAPIKey``:
    /// only a URL of this scheme, host and port does.
    public var indexerURL: URL?
    /// The largest .torrent (or NZB) a release may fetch, decoded.
    public var maxTorrentBytes: Int
    /// The largest answer of the client's own API, decoded.
    public var maxResponseBytes: Int
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
        case indexerURL = "indexer_url"
        case maxTorrentBytes = "max_torrent_bytes"
        case maxResponseBytes = "max_response_bytes"
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
        if let text = try container.decodeIfPresent(String.self, forKey: .indexerURL), !text.isEmpty {
            guard let url = URL.serverBase(text), ["http", "https"].contains(url.scheme?.lowercased() ?? "") else {
                throw DecodingError.dataCorruptedError(
                    forKey: .indexerURL, in: container, debugDescription: "'\(text)' is not an http(s) URL such as http://127.0.0.1:9696")
            }
            indexerURL = url
        }
        if indexerAPIKey != nil, indexerURL == nil {
            throw DecodingError.dataCorruptedError(
                forKey: .indexerURL, in: container,
                debugDescription: "indexer_api_key is set, so indexer_url must say which server gets it (Prowlarr's URL, "
                    + "such as http://127.0.0.1:9696): the key is sent to that origin only, never to a host a release names")
        }
        func bytes(_ key: CodingKeys, _ fallback: Int) throws -> Int {
            guard let value = try container.decodeIfPresent(Int64.self, forKey: key) else { return fallback }
            guard (1024...(1 << 34)).contains(value) else {
                throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "must be from 1024 to 17179869184 bytes")
            }
            return Int(value)
        }
        maxTorrentBytes = try bytes(.maxTorrentBytes, 10 << 20)
        maxResponseBytes = try bytes(.maxResponseBytes, HTTPClient.defaultMaximumBodyBytes)
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

/// A duration in a download client's settings, written as pipeline.yaml
/// writes every duration: a number and a unit (`500ms`, `10s`, `5m`, `1h`,
/// `2d`). A bare number is refused, so that `10` is never guessed to mean
/// seconds or milliseconds; settings that take a number of seconds say so in
/// their name (`…_seconds`). At most ten years.
struct SettingDuration: Decodable {
    var duration: Duration

    /// The longest duration a setting takes, in milliseconds: ten years,
    /// as long as the longest delay a job may have.
    static let maximumMilliseconds: Double = 10 * 366 * 86_400_000

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Double.self) {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "\(number) has no unit: write e.g. \(number)s or \(number)ms")
        }
        let text = try container.decode(String.self).trimmingCharacters(in: .whitespaces)
        let units: [(String, Double)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            let digits = text.dropLast(suffix.count)
            guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }), let number = Double(digits) else {
                continue
            }
            let milliseconds = (number * factor).rounded()
            guard milliseconds.isFinite, milliseconds <= Self.maximumMilliseconds else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "'\(text)' is longer than ten years")
            }
            duration = .milliseconds(Int64(milliseconds))
            return
        }
        throw DecodingError.dataCorruptedError(
            in: container, debugDescription: "'\(text)' is not a duration: write a number and a unit, such as 500ms, 10s, 5m")
    }
}
