import Foundation
import PluginHTTP
import PluginKit

/// Reads the Plex audiobook library (a Music library: album = book, album
/// artist = author) and reports it to the host, which records the items and
/// makes the requests they match `available` (`report_library`, ABI 1.1).
///
/// `scan_library` pages through every album of the section (a complete
/// listing); `library_recently_added_check` reads the newest few. The ASIN
/// comes from an Audnexus or Audible agent's guid
/// (`com.plexapp.agents.audnexus://B08G9PRS1K_us?lang=en`); albums of other
/// agents have none and are matched by title and author.
struct PlexLibraryPlugin: PipelinePlugin {
    static let info = PluginInfo(
        id: "org.pipeline.library.plex",
        name: "Plex library",
        version: "0.5.0",
        jobTypes: ["scan_library", "library_recently_added_check"],
        description: "Reads the Plex audiobook library and matches its items to requests, which then become available.")

    struct Settings: Decodable {
        var url: String
        var token: String?
        var libraryID: String?
        var recentlyAdded: Int?
        var pageSize: Int?

        enum CodingKeys: String, CodingKey {
            case url, token
            case libraryID = "library_id"
            case recentlyAdded = "recently_added"
            case pageSize = "page_size"
        }
    }

    let base: URL
    let token: String
    let libraryID: String
    let recentlyAdded: Int
    let pageSize: Int
    let http = HTTPClient(timeout: .seconds(30))

    init(configuration: PluginConfiguration, host: PluginHost) throws {
        let settings = try configuration.decode(Settings.self)
        guard let url = URL(string: settings.url.hasSuffix("/") ? String(settings.url.dropLast()) : settings.url), url.host != nil
        else { throw PluginError.permanent("bad plugin config: url '\(settings.url)' is not a URL such as http://127.0.0.1:32400") }
        base = url
        token = settings.token ?? ""
        libraryID = settings.libraryID ?? ""
        recentlyAdded = max(1, settings.recentlyAdded ?? 10)
        pageSize = max(1, settings.pageSize ?? 100)
    }

    /// `validate --probe`: the token is taken and the library is there.
    func check(context: JobContext) async throws {
        let page = try await albums(start: 0, size: 1, newestFirst: false)
        context.log(.info, "Plex library \(libraryID) answers with \(page.total) book(s)")
    }

    func execute(_ job: Job, context: JobContext) async throws -> JobOutcome {
        switch job.type {
        case "scan_library":
            var items: [JobContext.LibraryItem] = []
            var start = 0
            while true {
                let page = try await albums(start: start, size: pageSize, newestFirst: false)
                items += page.items
                start += page.items.count
                if page.items.isEmpty || start >= page.total { break }
                try context.checkCancellation()
            }
            try context.reportLibrary(backend: "plex", items: items, complete: true)
            context.log(.info, "Plex library \(libraryID) lists \(items.count) book(s)")
            return .done(["items": .int(Int64(items.count))])
        case "library_recently_added_check":
            let page = try await albums(start: 0, size: recentlyAdded, newestFirst: true)
            try context.reportLibrary(backend: "plex", items: page.items, complete: false)
            return .done(["items": .int(Int64(page.items.count))])
        default:
            return .fail("the Plex plugin does not handle job type '\(job.type)'")
        }
    }

    /// One page of albums (books) of the section.
    private func albums(start: Int, size: Int, newestFirst: Bool) async throws -> (items: [JobContext.LibraryItem], total: Int) {
        guard !libraryID.isEmpty else {
            throw PluginError.permanent(
                "library_id is empty in the library plugin's config: set it to the key of the Plex library holding the audiobooks")
        }
        var query = [("type", "9"), ("X-Plex-Container-Start", String(start)), ("X-Plex-Container-Size", String(size))]
        if newestFirst { query.append(("sort", "addedAt:desc")) }
        guard let url = URL(string: "\(base.absoluteString)/library/sections/\(libraryID)/all?" + FormEncoding.encode(query)) else {
            throw PluginError.permanent("cannot build a URL from \(base)")
        }
        let response: HTTPResponse
        do {
            response = try await http.send(HTTPRequest(url: url, headers: ["X-Plex-Token": token, "Accept": "application/json"]))
        } catch {
            throw PluginError.transient("Plex: \(error)")
        }
        switch response.status {
        case 200: break
        case 401:
            throw PluginError.permanent(
                "Plex refused the token (401) at \(base.absoluteString): set token in the library plugin's config to an X-Plex-Token of the server's owner")
        case 404:
            throw PluginError.permanent("Plex has no library \(libraryID) (404): set library_id to the key of the audiobook library")
        default:
            throw PluginError.transient("Plex answered \(response.status): \(response.excerpt)")
        }
        let container: PlexContainer
        do {
            container = try JSONDecoder().decode(PlexResponse.self, from: response.body).mediaContainer
        } catch {
            throw PluginError.transient("Plex's answer is not the expected JSON (\(error)): \(response.excerpt)")
        }
        let items = (container.metadata ?? []).map { album in
            JobContext.LibraryItem(
                id: album.ratingKey, title: album.title, author: album.parentTitle ?? album.originalTitle,
                asin: Self.asin(inGUID: album.guid), addedAt: album.addedAt.map { ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval($0))) })
        }
        return (items, container.totalSize ?? container.size ?? items.count)
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
