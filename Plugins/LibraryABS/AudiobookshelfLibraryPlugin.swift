import Foundation
import LibraryBackendKit
import PluginHTTP
import PluginKit

/// Audiobookshelf's library API (../shared/research/service-apis.md §3),
/// for ``LibraryBackendPlugin``: `Authorization: Bearer` with an API key;
/// pages counted from 0; errors as plain text; times in epoch milliseconds.
/// Items without audio files (ebooks) are left out: an ebook in the library
/// does not make an audiobook request available.
struct AudiobookshelfServer: LibraryBackend {
    static let pluginInfo = PluginInfo(
        id: "org.pipeline.library.audiobookshelf",
        name: "Audiobookshelf library",
        version: "0.6.0",
        jobTypes: [],
        description: "Reads the Audiobookshelf library and matches its items to requests, which then become available.")
    static let backendName = "audiobookshelf"
    static let displayName = "Audiobookshelf"
    static let exampleURL = "http://127.0.0.1:13378"

    let server: LibraryServerSettings
    let http: HTTPClient


    /// `GET /api/libraries/{id}/items?limit=&page=[&sort=addedAt&desc=1]`.
    func books(offset: Int, limit: Int, newestFirst: Bool) async throws -> LibraryPage {
        var query = [("limit", String(limit)), ("page", String(offset / limit))]
        if newestFirst { query += [("sort", "addedAt"), ("desc", "1")] }
        let response = try await send("GET", path: "items", query: query)
        let listing: AudiobookshelfListing
        do {
            listing = try JSONDecoder().decode(AudiobookshelfListing.self, from: response.body)
        } catch {
            throw PluginError.transient("Audiobookshelf's answer is not the expected JSON (\(error)): \(response.excerpt)")
        }
        let books = listing.results.compactMap { item -> JobContext.LibraryItem? in
            guard item.hasAudio, let metadata = item.media?.metadata, let title = metadata.title, !title.isEmpty else { return nil }
            let fullTitle = metadata.subtitle.map { $0.isEmpty ? title : "\(title): \($0)" } ?? title
            return JobContext.LibraryItem(
                id: item.id, title: fullTitle, author: metadata.authorName, asin: metadata.asin, isbn: metadata.isbn,
                path: item.path,
                addedAt: item.addedAt.flatMap { LibraryDates.iso8601(epochSeconds: $0 / 1000) })
        }
        return LibraryPage(books: books, listed: listing.results.count, total: listing.total)
    }

    /// `POST /api/libraries/{id}/scan`: 200 `OK` at once; the scan runs after.
    /// Audiobookshelf scans whole libraries, so `path` is not sent.
    func requestScan(path: String?) async throws {
        _ = try await send("POST", path: "scan", query: [])
    }

    static let help = LibraryServerHelp(
        token: "an API key (Settings → API Keys; an admin's, for scans)",
        libraryID: "the id of the Audiobookshelf book library (GET /api/libraries lists them)")

    /// A call under the library, with the API key as a bearer token.
    private func send(_ method: String, path: String, query: [(String, String)]) async throws -> HTTPResponse {
        try await Self.call(
            server, via: http, method: method, path: "/api/libraries/{library}/\(path)", query: query,
            headers: ["Authorization": "Bearer \(server.token)"], help: Self.help)
    }
}

/// The paged listing's envelope: `results` and `total` (of all items).
struct AudiobookshelfListing: Decodable {
    var results: [AudiobookshelfItem]
    var total: Int
}

/// A list item, in the minified shape lists always use.
struct AudiobookshelfItem: Decodable {
    var id: String
    var path: String?
    /// Epoch milliseconds.
    var addedAt: Double?
    var mediaType: String?
    var media: Media?

    struct Media: Decodable {
        var metadata: Metadata?
        var numAudioFiles: Int?
        var numTracks: Int?
        var duration: Double?
    }

    struct Metadata: Decodable {
        var title: String?
        var subtitle: String?
        var authorName: String?
        var asin: String?
        var isbn: String?
    }

    /// Whether the item has audio (an ebook-only item has none): the audio
    /// file count, else the track count, else a running time.
    var hasAudio: Bool {
        guard mediaType == nil || mediaType == "book", let media else { return false }
        if let count = media.numAudioFiles { return count > 0 }
        if let count = media.numTracks { return count > 0 }
        return (media.duration ?? 0) > 0
    }
}
