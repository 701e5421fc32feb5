import Foundation
import LibraryBackendKit
import PluginHTTP
import PluginKit

/// Plex Media Server's library API (../shared/research/service-apis.md §2),
/// for ``LibraryBackendPlugin``: the audiobooks are a Music library (album =
/// book, album artist = author). The ASIN comes from an Audnexus or Audible
/// agent's guid (`com.plexapp.agents.audnexus://B08G9PRS1K_us?lang=en`);
/// albums of other agents have none and are matched by title and author.
struct PlexServer: LibraryBackend {
    static let pluginInfo = PluginInfo(
        id: "org.pipeline.library.plex",
        name: "Plex library",
        version: "0.6.0",
        jobTypes: [],
        description: "Reads the Plex audiobook library and matches its items to requests, which then become available.")
    static let backendName = "plex"
    static let displayName = "Plex"
    static let exampleURL = "http://127.0.0.1:32400"

    let server: LibraryServerSettings
    let http: HTTPClient


    func books(offset: Int, limit: Int, newestFirst: Bool) async throws -> LibraryPage {
        var query = [("type", "9"), ("X-Plex-Container-Start", String(offset)), ("X-Plex-Container-Size", String(limit))]
        if newestFirst { query.append(("sort", "addedAt:desc")) }
        let response = try await send(path: "all", query: query)
        let container: PlexContainer
        do {
            container = try JSONDecoder().decode(PlexResponse.self, from: response.body).mediaContainer
        } catch {
            throw PluginError.transient("Plex's answer is not the expected JSON (\(error)): \(response.excerpt)")
        }
        let albums = container.metadata ?? []
        let books = albums.map { album in
            JobContext.LibraryItem(
                id: album.ratingKey, title: album.title, author: album.parentTitle ?? album.originalTitle,
                asin: Self.asin(inGUID: album.guid),
                addedAt: album.addedAt.flatMap { LibraryDates.iso8601(epochSeconds: Double($0)) })
        }
        return LibraryPage(books: books, listed: albums.count, total: container.totalSize ?? container.size ?? albums.count)
    }

    /// `GET /library/sections/{id}/refresh[?path=]`: 200 with an empty body at once.
    func requestScan(path: String?) async throws {
        _ = try await send(path: "refresh", query: path.map { [("path", $0)] } ?? [])
    }

    static let help = LibraryServerHelp(
        token: "an X-Plex-Token of the server's owner", libraryID: "the key of the Plex library holding the audiobooks")

    /// A call under the section: the token in a header, JSON asked for (Plex sends XML otherwise).
    private func send(path: String, query: [(String, String)]) async throws -> HTTPResponse {
        try await Self.call(
            server, via: http, path: "/library/sections/{library}/\(path)", query: query,
            headers: ["X-Plex-Token": server.token, "Accept": "application/json"], help: Self.help)
    }

    /// The ASIN in an Audnexus or Audible agent's guid, if any.
    static func asin(inGUID guid: String?) -> String? {
        guard let guid, let range = guid.range(of: #"(audnexus|audible)://[A-Za-z0-9]{10}"#, options: .regularExpression) else {
            return nil
        }
        return String(guid[range].suffix(10)).uppercased()
    }
}

struct PlexResponse: Decodable {
    var mediaContainer: PlexContainer
    enum CodingKeys: String, CodingKey { case mediaContainer = "MediaContainer" }
}

/// `MediaContainer`: `Metadata` is left out when the library is empty.
struct PlexContainer: Decodable {
    var size: Int?
    var totalSize: Int?
    var metadata: [PlexAlbum]?
    enum CodingKeys: String, CodingKey {
        case size, totalSize
        case metadata = "Metadata"
    }
}

struct PlexAlbum: Decodable {
    var ratingKey: String
    var title: String
    var parentTitle: String?
    var originalTitle: String?
    var guid: String?
    var addedAt: Int?
}
