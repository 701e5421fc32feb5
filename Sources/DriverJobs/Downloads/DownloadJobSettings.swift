import DownloadClientKit
import Foundation
import PluginHTTP

/// The settings of the host's download jobs for one client instance, read
/// from the same `config` as the client's own (docs/configuration.md,
/// "Download clients"): what to add with, where the data lands locally, how
/// releases are fetched and how the monitor polls.
public struct DownloadJobSettings: Sendable, Decodable {
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
    /// How long one fetch from the indexer may take.
    public var requestTimeout: Duration
    /// The monitor's timing and limits.
    public var monitor: MonitorPolicy
    /// How long after the add the first poll runs.
    public var firstPollDelay: Duration
    /// Releases tried per download_torrent job: the chosen one and its alternates.
    public var maxReleases: Int
    /// When `cleanup_seeded_torrents` removes a finished torrent.
    public var seeding: SeedingPolicy

    enum CodingKeys: String, CodingKey {
        case category, tags
        case savePath = "save_path"
        case pathMappings = "path_mappings"
        case indexerAPIKey = "indexer_api_key"
        case indexerURL = "indexer_url"
        case maxTorrentBytes = "max_torrent_bytes"
        case requestTimeout = "request_timeout"
        case pollInterval = "poll_interval"
        case maxPollInterval = "max_poll_interval"
        case maxConnectionFailures = "max_connection_failures"
        case missingPolls = "missing_polls"
        case maxPathWaits = "max_path_waits"
        case firstPollDelay = "first_poll_delay"
        case maxReleases = "max_releases"
        case seedRatio = "seed_ratio"
        case seedMinutes = "seed_minutes"
        case seedGoalsByIndexer = "seed_goals_by_indexer"
        case cleanupBatch = "cleanup_batch"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
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
        maxTorrentBytes = try SettingBytes.decode(container, .maxTorrentBytes, 10 << 20)
        func count(_ key: CodingKeys, _ fallback: Int) throws -> Int {
            guard let value = try container.decodeIfPresent(Int.self, forKey: key) else { return fallback }
            guard value >= 1 else {
                throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "must be at least 1")
            }
            return value
        }
        requestTimeout = try SettingDuration.decode(container, .requestTimeout, .seconds(30))
        firstPollDelay = try SettingDuration.decode(container, .firstPollDelay, .seconds(3))
        maxReleases = try count(.maxReleases, 10)
        let defaults = MonitorPolicy()
        monitor = MonitorPolicy(
            pollInterval: try SettingDuration.decode(container, .pollInterval, defaults.pollInterval),
            maxPollInterval: try SettingDuration.decode(container, .maxPollInterval, defaults.maxPollInterval),
            maxConnectionFailures: try count(.maxConnectionFailures, defaults.maxConnectionFailures),
            missingPolls: try count(.missingPolls, defaults.missingPolls),
            maxPathWaits: try count(.maxPathWaits, defaults.maxPathWaits))
        seeding = SeedingPolicy(
            goal: SeedingGoal(
                ratio: try SeedingGoal.ratio(container, .seedRatio) ?? 0, minutes: try SeedingGoal.minutes(container, .seedMinutes) ?? 0),
            indexerGoals: try container.decodeIfPresent([String: SeedingGoal].self, forKey: .seedGoalsByIndexer) ?? [:],
            batch: try count(.cleanupBatch, 50))
        if seeding.batch > SeedingPolicy.maximumBatch {
            throw DecodingError.dataCorruptedError(
                forKey: .cleanupBatch, in: container, debugDescription: "must be at most \(SeedingPolicy.maximumBatch)")
        }
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
