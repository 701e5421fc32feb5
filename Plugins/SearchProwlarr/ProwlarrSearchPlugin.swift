import Foundation
import PipelinePayloads
import PluginHTTP
import PluginKit
import ReleaseSearch

/// Searches Prowlarr for a request's book (`search_indexers`), ranks what
/// the indexers offer (ReleaseSearch; docs/release-ranking.md) and hands the
/// best release with its alternates to `download_torrent`.
///
/// Nothing acceptable: the request rests at `awaiting_search` with the
/// reason, for `retry_missing_torrents`. A book not yet released (its
/// `release_date` after today): `awaiting_release`, unless the search was
/// asked for by hand (`manual: true`).
///
/// `retry_missing_torrents` (scheduled) searches again for the requests
/// resting at `awaiting_search` and for the released ones at
/// `awaiting_release`, those searched longest ago first, at most
/// `retry_batch` (default 50) a run.
struct ProwlarrSearchPlugin: PipelinePlugin {
    static let info = PluginInfo(
        id: "org.pipeline.search.prowlarr",
        name: "Prowlarr search",
        version: "0.6.0",
        jobTypes: ["search_indexers", "retry_missing_torrents"],
        description: "Searches the indexers through Prowlarr and hands the best release to the download client.")

    struct Settings: Decodable {
        var url: String
        var apiKey: String?
        var categories: [Int]?
        var indexerIDs: [Int]?
        var minSeeders: Int?
        var indexerBonus: [String: Double]?
        var maxAlternates: Int?
        var requestTimeoutSeconds: Double?
        var retryBatch: Int?

        enum CodingKeys: String, CodingKey {
            case url, categories
            case retryBatch = "retry_batch"
            case apiKey = "api_key"
            case indexerIDs = "indexer_ids"
            case minSeeders = "min_seeders"
            case indexerBonus = "indexer_bonus"
            case maxAlternates = "max_alternates"
            case requestTimeoutSeconds = "request_timeout_seconds"
        }
    }

    struct Payload: Decodable {
        var requestID: String?
        var book: JSONValue
        var manual: Bool?
        /// Release titles (or info hashes) not to take again for this request.
        var blocklist: [String]?
        /// The releases that failed in the client before this search, with
        /// reasons: with nothing else to take, the request fails saying so.
        var tried: [String]?

        enum CodingKeys: String, CodingKey {
            case book, manual, blocklist, tried
            case requestID = "request_id"
        }
    }

    let prowlarr: ProwlarrAPI
    let categories: [Int]
    let indexerIDs: [Int]
    let minSeeders: Int
    let indexerBonus: [Int: Double]
    let maxAlternates: Int
    let retryBatch: Int

    init(configuration: PluginConfiguration, host: PluginHost) throws {
        let settings = try configuration.decode(Settings.self)
        guard let url = URL.serverBase(settings.url)
        else { throw PluginError.permanent("bad plugin config: url '\(settings.url)' is not a URL such as http://127.0.0.1:9696") }
        let timeout = settings.requestTimeoutSeconds ?? 60
        guard timeout > 0, timeout <= 3_600 else {
            throw PluginError.permanent("bad plugin config: request_timeout_seconds must be above 0 and at most 3600")
        }
        prowlarr = ProwlarrAPI(base: url, apiKey: settings.apiKey ?? "", timeout: .milliseconds(Int64(timeout * 1000)))
        categories = settings.categories ?? [3030]
        indexerIDs = settings.indexerIDs ?? []
        minSeeders = settings.minSeeders ?? 1
        let bonuses = settings.indexerBonus ?? [:]
        guard bonuses.values.allSatisfy({ $0.isFinite && (-1_000...1_000).contains($0) }) else {
            throw PluginError.permanent("bad plugin config: every indexer_bonus must be a number from -1000 to 1000")
        }
        indexerBonus = Dictionary(uniqueKeysWithValues: bonuses.compactMap { key, value in Int(key).map { ($0, value) } })
        maxAlternates = settings.maxAlternates ?? 9
        guard (0...50).contains(maxAlternates) else {
            throw PluginError.permanent("bad plugin config: max_alternates must be from 0 to 50")
        }
        retryBatch = settings.retryBatch ?? 50
        guard (1...RequestQuery.maximumLimit).contains(retryBatch) else {
            throw PluginError.permanent("bad plugin config: retry_batch must be from 1 to \(RequestQuery.maximumLimit)")
        }
    }

    func check(context: JobContext) async throws {
        let status = try await prowlarr.status()
        context.log(.info, "Prowlarr \(status) answers with this API key")
    }

    func execute(_ job: Job, context: JobContext) async throws -> JobOutcome {
        switch job.type {
        case "search_indexers": return try await search(job, context: context)
        case "retry_missing_torrents": return try retryMissing(context: context)
        default: return .fail("the Prowlarr plugin does not handle job type '\(job.type)'")
        }
    }

    /// `retry_missing_torrents`: a new search for each waiting request that
    /// is released; an unreleased one waits at `awaiting_release`.
    func retryMissing(context: JobContext) throws -> JobOutcome {
        let waiting = try context.findRequests(
            RequestQuery(status: ["awaiting_search", "awaiting_release"], order: .lastSearchAt, limit: retryBatch))
        var searched = 0
        var held = 0
        for request in waiting {
            try context.checkCancellation()
            if let date = request.releaseDate, Self.isAfterToday(date) {
                if request.status == "awaiting_search" {
                    try? context.requestTransition(
                        requestID: request.id, to: "awaiting_release", details: ["reason": .string("released on \(date); searching then")])
                }
                held += 1
                continue
            }
            // One search per request and attempt, however often the schedule fires.
            try context.enqueue(
                "search_indexers", payload: request.searchPayload(), jobID: "retry-search-\(request.id)-\(request.searchAttempts)")
            searched += 1
        }
        context.log(.info, "searching again for \(searched) request(s); \(held) not yet released")
        return .done(["searched": .int(Int64(searched)), "unreleased": .int(Int64(held))])
    }

    func search(_ job: Job, context: JobContext) async throws -> JobOutcome {
        let payload = try job.payload(as: Payload.self)
        guard let title = payload.book[BookFields.title]?.stringValue, !title.isEmpty else {
            return .fail("malformed payload for job type 'search_indexers': book.title is missing")
        }
        let author = payload.book[BookFields.author]?.stringValue ?? ""
        let requestID = payload.requestID
        func move(_ status: String, _ details: [String: JSONValue]? = nil) throws {
            if let requestID { try context.requestTransition(requestID: requestID, to: status, details: details) }
        }
        if payload.manual != true, let date = payload.book["release_date"]?.stringValue, Self.isAfterToday(date) {
            try move("awaiting_release", ["reason": .string("released on \(date); searching then")])
            context.log(.info, "not released before \(date): waiting")
            return .done(["awaiting_release": .string(date)])
        }
        do {
            try move("searching")
        } catch let error as PluginError where error.isHostRefusal {
            context.log(.warn, "no search: \(error.message)")
            return .done(["skipped": .string(error.message)])
        }
        let found: [ProwlarrRelease]
        do {
            found = try await search(title: title, author: author, context: context)
        } catch let error as PluginError {
            try? move("failed", ["reason": .string(error.message)])
            throw error
        }
        let blocked = Set((payload.blocklist ?? []).map { $0.trimmingCharacters(in: .whitespaces).lowercased() })
        // Usenet releases are kept when a usenet client takes new downloads;
        // torrents always (a host without clients still searches).
        let protocols = context.downloadProtocols.union(["torrent"])
        let usable = found.filter { release in
            protocols.contains(release.protocol?.lowercased() ?? "torrent")
                && (release.protocol?.lowercased() == "usenet" || (release.seeders ?? 0) >= minSeeders)
                && !blocked.contains(release.title.trimmingCharacters(in: .whitespaces).lowercased())
                && !blocked.contains(release.infoHash?.lowercased() ?? "-")
        }
        let runtime = payload.book["runtime_minutes"]?.intValue.map(Int.init)
        let ranker = ReleaseRanker(book: BookQuery(title: title, author: author, runtimeMinutes: runtime), indexerBonus: indexerBonus)
        let candidates = usable.map(\.candidate)
        let (accepted, rejected) = ranker.rank(candidates)
        for (candidate, score) in rejected.prefix(10) {
            context.log(.info, "passed over '\(candidate.title)': \(score.rejection ?? "")")
        }
        let tried = payload.tried ?? []
        if accepted.isEmpty, !tried.isEmpty {
            let reason =
                "no other acceptable release (\(found.count) result(s), \(found.count - usable.count) blocklisted or unusable); "
                + "tried: " + tried.joined(separator: "; ")
            try move("failed", ["reason": .string(reason)])
            context.log(.error, reason)
            return .fail(reason)
        }
        guard !accepted.isEmpty else {
            let reason =
                found.isEmpty
                ? "no results from the indexers; will search again"
                : "\(found.count) result(s), none acceptable (\(found.count - usable.count) "
                    + (protocols.contains("usenet") ? "" : "usenet, ") + "blocklisted or without seeders); will search again"
            try move("awaiting_search", ["reason": .string(reason)])
            context.log(.info, reason)
            return .done(["awaiting_search": .string(reason)])
        }
        let byKey = Dictionary(usable.map { ($0.candidate.key, $0) }, uniquingKeysWith: { first, _ in first })
        let chosen = accepted.prefix(1 + maxAlternates).compactMap { byKey[$0.0.key]?.release }
        let next = DownloadTorrentPayload(
            requestID: requestID, book: payload.book, release: chosen[0], alternates: Array(chosen.dropFirst()), tried: tried,
            blocklist: payload.blocklist ?? [])
        try context.enqueue("download_torrent", payload: next)
        context.log(
            .info, "chose '\(chosen[0].title)' (score \(String(format: "%.0f", accepted[0].1.final))) with \(chosen.count - 1) alternate(s)")
        return .done(["release": .string(chosen[0].title), "score": .double(accepted[0].1.final), "alternates": .int(Int64(chosen.count - 1))])
    }

    /// "title author", then "title" alone; one list, first of each guid kept.
    private func search(title: String, author: String, context: JobContext) async throws -> [ProwlarrRelease] {
        var seen: Set<String> = []
        var releases: [ProwlarrRelease] = []
        for query in author.isEmpty ? [title] : ["\(title) \(author)", title] {
            for release in try await prowlarr.search(query, categories: categories, indexerIDs: indexerIDs)
            where seen.insert("\(release.indexerId ?? 0)|\(release.guid)").inserted {
                releases.append(release)
            }
        }
        context.log(.info, "Prowlarr found \(releases.count) release(s) for '\(title)'")
        return releases
    }

    static func isAfterToday(_ date: String) -> Bool {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd"
        guard let day = formatter.date(from: String(date.prefix(10))) else { return false }
        return formatter.string(from: day) > formatter.string(from: Date())
    }
}

/// One release from `/api/v1/search` (nulls are omitted there).
struct ProwlarrRelease: Decodable {
    var guid: String
    var title: String
    var size: Int64?
    var seeders: Int?
    var leechers: Int?
    var indexerId: Int?
    var indexer: String?
    var downloadUrl: String?
    var magnetUrl: String?
    var infoUrl: String?
    var infoHash: String?
    var publishDate: String?
    var `protocol`: String?
    var grabs: Int?
    /// Days since the post (an integer from Prowlarr; read as any number,
    /// held to 0...100 000 days, so no indexer's figure can trap).
    var age: Double?

    var candidate: ReleaseCandidate {
        // A torrent always has a swarm (no figure: none); usenet has none to count.
        let isUsenet = `protocol`?.lowercased() == "usenet"
        return ReleaseCandidate(
            key: "\(indexerId ?? 0)|\(guid)", title: title, sizeBytes: size ?? 0, seeders: isUsenet ? nil : (seeders ?? 0),
            indexerID: indexerId, publishDate: publishDate, grabs: grabs,
            ageDays: age.flatMap { $0.isFinite ? Int(min(max($0, 0), 100_000)) : nil })
    }

    var release: Release {
        Release(
            title: title, downloadURL: downloadUrl, magnetURL: magnetUrl, infoHash: infoHash?.lowercased(), sizeBytes: size,
            seeders: seeders, leechers: leechers, indexer: indexer, indexerID: indexerId, protocol: `protocol`, guid: guid,
            infoURL: infoUrl)
    }
}

/// Prowlarr's REST API, with the key in `X-Api-Key`.
struct ProwlarrAPI: Sendable {
    let base: URL
    let apiKey: String
    let http: HTTPClient

    init(base: URL, apiKey: String, timeout: Duration) {
        self.base = base
        self.apiKey = apiKey
        http = HTTPClient(timeout: timeout)
    }

    func search(_ query: String, categories: [Int], indexerIDs: [Int]) async throws -> [ProwlarrRelease] {
        var fields = [("query", query), ("type", "search"), ("limit", "100")]
        fields += categories.map { ("categories", String($0)) }
        fields += indexerIDs.map { ("indexerIds", String($0)) }
        let data = try await get("/api/v1/search?" + FormEncoding.encode(fields))
        do {
            return try JSONDecoder().decode([ProwlarrRelease].self, from: data)
        } catch {
            throw PluginError.transient("Prowlarr's search answer is not the expected JSON array: \(error)")
        }
    }

    func status() async throws -> String {
        let data = try await get("/api/v1/system/status")
        let object = try? JSONDecoder().decode(JSONValue.self, from: data)
        return object?["version"]?.stringValue ?? "(version unknown)"
    }

    private func get(_ path: String) async throws -> Data {
        guard let url = URL(string: base.absoluteString + path) else { throw PluginError.permanent("cannot build a URL from \(base) and \(path)") }
        let response: HTTPResponse
        do {
            response = try await http.send(HTTPRequest(url: url, headers: ["X-Api-Key": apiKey, "Accept": "application/json"]))
        } catch {
            throw PluginError.transient("Prowlarr: \(error)")
        }
        switch response.status {
        case 200..<300: return response.body
        case 401, 403:
            throw PluginError.permanent(
                "Prowlarr refused the API key (\(response.status)) at \(base.absoluteString): set api_key in the search "
                    + "plugin's config to the key under Settings → General in Prowlarr")
        case 400:
            throw PluginError.permanent("Prowlarr refused the search (400): \(response.excerpt)")
        default:
            throw PluginError.transient(
                "Prowlarr answered \(response.status) to \(url.redactingSecrets): \(response.excerpt)", retryAfter: response.retryAfter)
        }
    }
}
