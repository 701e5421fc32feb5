import Foundation
import Hummingbird
import Logging
import NIOCore
import PipelineJSON
import Synchronization

/// Prowlarr's search API as the real server answers it
/// (../shared/research/service-apis.md §1): the key from `apikey`, else
/// `X-Api-Key`, else `Authorization: Bearer`; 401 with an empty body; search
/// results as a bare, indented JSON array in camelCase with null fields
/// left out, ids that are always there written as 0, `indexerFlags` and
/// `categories` always present; `/ping` open to all.
public final class ProwlarrStandIn: @unchecked Sendable {
    public struct Indexer: Sendable {
        public var id: Int
        public var name: String
        public var categories: [Int]

        public init(id: Int, name: String, categories: [Int]) {
            self.id = id
            self.name = name
            self.categories = categories
        }
    }

    public let apiKey = String(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(32))
    private let state = Mutex<(releases: [JSONValue], queries: [String], failing: Int?, torrents: [String: Data], usenetLinks: Set<String>)>(
        ([], [], nil, [:], []))
    public let indexers: [Indexer]
    public private(set) var port = 0
    private var task: Task<Void, any Error>?

    public init(indexers: [Indexer] = [Indexer(id: 12, name: "MyAnonamouse", categories: [3030, 100013]), Indexer(id: 3, name: "Some Public Tracker", categories: [3030])]) async throws {
        self.indexers = indexers
        let router = Router()
        router.get("ping") { _, _ in Self.json(.ok, #"{"status":"OK"}"#) }
        router.get("api/v1/system/status") { [self] request, _ in
            guard authorized(request) else { return Response(status: .unauthorized) }
            return Self.json(.ok, #"{"appName":"Prowlarr","instanceName":"Prowlarr","version":"1.24.3.4754","isDocker":false}"#)
        }
        router.get("api/v1/search") { [self] request, _ in
            guard authorized(request) else { return Response(status: .unauthorized) }
            if let failing = state.withLock({ $0.failing }) {
                return Self.json(.init(code: failing), #"{"message":"Search failed","description":"stand-in failure"}"#)
            }
            let query = request.uri.queryParameters["query"].map(String.init) ?? ""
            let categories = request.uri.queryParameters.getAll("categories").compactMap { Int($0) }
            let indexerIDs = request.uri.queryParameters.getAll("indexerIds").compactMap { Int($0) }
            state.withLock { $0.queries.append(query) }
            let words = query.lowercased().split(separator: " ").map(String.init)
            let usable = Set(
                self.indexers.filter { indexer in
                    (indexerIDs.isEmpty || indexerIDs.contains(indexer.id))
                        && (categories.isEmpty || !Set(indexer.categories).isDisjoint(with: categories))
                }.map(\.id))
            let hits = state.withLock { $0.releases }.filter { release in
                let title = (release["title"]?.stringValue ?? "").lowercased()
                return usable.contains(Int(release["indexerId"]?.intValue ?? -1)) && words.allSatisfy { title.contains($0) }
            }
            return Self.json(.ok, Self.indented(.array(hits)))
        }
        // Prowlarr's proxied download: the indexer's .torrent, behind the API key.
        router.get(":indexer/download") { [self] request, _ in
            guard authorized(request) else { return Response(status: .unauthorized) }
            let link = request.uri.queryParameters["link"].map(String.init) ?? ""
            guard let torrent = state.withLock({ $0.torrents[link] }) else {
                return Self.json(.notFound, #"{"message":"Release not found","description":"stand-in"}"#)
            }
            let file = request.uri.queryParameters["file"].map(String.init) ?? "release"
            // A usenet indexer's download is a 301 to the indexer's own NZB URL.
            if state.withLock({ $0.usenetLinks.contains(link) }) {
                var location = URLComponents()
                location.path = "/indexer/nzb"
                location.queryItems = [URLQueryItem(name: "id", value: link), URLQueryItem(name: "file", value: file)]
                return Response(status: .movedPermanently, headers: [.location: location.string ?? "/indexer/nzb"])
            }
            return Response(
                status: .ok,
                headers: [.contentType: "application/x-bittorrent", .contentDisposition: "attachment; filename=\"\(file).torrent\""],
                body: .init(byteBuffer: ByteBuffer(bytes: torrent)))
        }
        // The usenet indexer's NZB, where Prowlarr's download link redirects.
        router.get("indexer/nzb") { [self] request, _ in
            let link = request.uri.queryParameters["id"].map(String.init) ?? ""
            guard let nzb = state.withLock({ $0.usenetLinks.contains(link) ? $0.torrents[link] : nil }) else {
                return Response(status: .notFound)
            }
            let file = request.uri.queryParameters["file"].map(String.init) ?? "release"
            return Response(
                status: .ok,
                headers: [.contentType: "application/x-nzb", .contentDisposition: "attachment; filename=\"\(file).nzb\""],
                body: .init(byteBuffer: ByteBuffer(bytes: nzb)))
        }
        let started = try await startStandIn(router, label: "prowlarr")
        port = started.port
        task = started.task
    }

    deinit { task?.cancel() }

    public var url: String { "http://127.0.0.1:\(port)" }

    /// The queries searched, in order.
    public var queries: [String] { state.withLock { $0.queries } }

    /// Each release's `downloadUrl`, by title.
    public var releaseLinks: [String: String] {
        Dictionary(
            state.withLock { $0.releases }.compactMap { release in
                release["title"]?.stringValue.flatMap { title in release["downloadUrl"]?.stringValue.map { (title, $0) } }
            }, uniquingKeysWith: { first, _ in first })
    }

    /// Makes every search answer `status` (nil: answer normally).
    public func failSearches(with status: Int?) { state.withLock { $0.failing = status } }

    /// Adds a release the way Prowlarr reports it; nil fields are left out.
    public func add(
        title: String, indexer: Int = 12, size: Int64 = 400_000_000, seeders: Int? = 20, infoHash: String? = nil,
        protocol: String = "torrent", publishDate: String = "2025-10-03T21:40:00Z", flags: [String] = [],
        torrent: Data? = nil
    ) {
        let name = indexers.first { $0.id == indexer }?.name ?? "Indexer \(indexer)"
        let link = Data(title.utf8).base64EncodedString().replacingOccurrences(of: "=", with: "")
        var release: [String: JSONValue] = [
            "guid": .string("https://tracker.example/t/\(abs(title.hashValue % 1_000_000))"),
            "age": 30, "ageHours": 721.5, "ageMinutes": 43290.0, "size": .int(size), "indexerId": .int(Int64(indexer)),
            "indexer": .string(name), "title": .string(title),
            "sortTitle": .string(title.lowercased().filter { $0.isLetter || $0.isNumber || $0 == " " }),
            "imdbId": 0, "tmdbId": 0, "tvdbId": 0, "tvMazeId": 0, "publishDate": .string(publishDate),
            "downloadUrl": .string("\(url)/\(indexer)/download?apikey=\(apiKey)&link=\(link)&file=\(title.replacingOccurrences(of: " ", with: "+"))"),
            "infoUrl": .string("https://tracker.example/t/1"), "indexerFlags": .array(flags.map { .string($0) }),
            "categories": [["id": 3030, "name": "Audio/Audiobook", "subCategories": []]],
            "protocol": .string(`protocol`),
            "fileName": .string(title + (`protocol` == "torrent" ? ".torrent" : ".nzb")),
        ]
        if `protocol` == "torrent" {
            if let seeders {
                release["seeders"] = .int(Int64(seeders))
                release["leechers"] = 1
            }
            if let infoHash { release["infoHash"] = .string(infoHash) }
        }
        state.withLock {
            $0.releases.append(.object(release))
            if let torrent { $0.torrents[link] = torrent }
            if `protocol` == "usenet" { $0.usenetLinks.insert(link) }
        }
    }

    private func authorized(_ request: Request) -> Bool {
        // The query parameter wins even when wrong; then the header; then Bearer.
        if let key = request.uri.queryParameters["apikey"] { return String(key) == apiKey }
        if let key = request.headers[.init("X-Api-Key")!] { return key == apiKey }
        if let bearer = request.headers[.authorization], bearer.hasPrefix("Bearer ") { return String(bearer.dropFirst(7)) == apiKey }
        return false
    }

    public static func json(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    public static func indented(_ value: JSONValue) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .withoutEscapingSlashes]
        return (try? String(decoding: encoder.encode(value), as: UTF8.self)) ?? "[]"
    }
}
