import Foundation
import Hummingbird
import Logging
import NIOCore
import PipelineJSON
import Synchronization

/// Plex Media Server's library API as the real server answers it
/// (../shared/research/service-apis.md §2): the token in `X-Plex-Token`
/// (header or query); XML unless the client asks for JSON; a 401 with an
/// HTML body; albums (`type=9`) of a Music library as the books, paged with
/// `X-Plex-Container-Start`/`-Size` (query or headers); `Metadata` left out
/// of an empty container; ids as strings, times in Unix seconds.
public final class PlexStandIn: LibraryServerStandIn, @unchecked Sendable {
    public let pluginFile = "libLibraryPlex.so"
    public let backendName = "plex"
    public let token = "plex-\(UUID().uuidString.prefix(8))"
    public let libraryID = "3"
    public let faults = StandInFaults()
    public let shelf = StandInShelf()
    public private(set) var port = 0
    private var task: Task<Void, any Error>?

    public init() async throws {
        let router = Router()
        router.get("identity") { _, _ in
            Self.respond(#"{"MediaContainer":{"size":0,"claimed":true,"machineIdentifier":"96f2fe7a78c9","version":"1.41.3.9314-a0bfb8370"}}"#)
        }
        router.get("library/sections/:id/all") { [self] request, context in
            guard authorized(request) else { return Self.unauthorized }
            if let injected = try await faults.injected() { return injected }
            guard try context.parameters.require("id") == libraryID else { return Response(status: .notFound) }
            func parameter(_ name: String) -> Int? {
                request.uri.queryParameters[Substring(name)].flatMap { Int($0) }
                    ?? request.headers[.init(name)!].flatMap { Int($0) }
            }
            // Albums (type 9) are the books; an ebook has no album in a Music library.
            var list = shelf.listing.filter(\.hasAudio)
            if request.uri.queryParameters["sort"] == "addedAt:desc" { list.sort { $0.addedAt > $1.addedAt } }
            let start = parameter("X-Plex-Container-Start") ?? 0
            let size = parameter("X-Plex-Container-Size") ?? list.count
            let page = Array(list.dropFirst(start).prefix(size))
            let wantsJSON = request.headers[.accept]?.contains("application/json") == true
            return wantsJSON ? Self.respond(Self.json(page, total: list.count, start: start)) : Self.respondXML(Self.xml(page, total: list.count, start: start))
        }
        // A scan: 200 with an empty body at once (GET, as clients use it, or POST).
        let refresh: @Sendable (Request, BasicRequestContext) async throws -> Response = { [self] request, context in
            guard authorized(request) else { return Self.unauthorized }
            if let injected = try await faults.injected() { return injected }
            guard try context.parameters.require("id") == libraryID else { return Response(status: .notFound) }
            shelf.recordScan(request.uri.queryParameters["path"].map(String.init))
            return Response(status: .ok)
        }
        router.get("library/sections/:id/refresh", use: refresh)
        router.post("library/sections/:id/refresh", use: refresh)
        (port, task) = try await startStandIn(router, label: "plex")
    }

    deinit { task?.cancel() }

    public var url: String { "http://127.0.0.1:\(port)" }

    private func authorized(_ request: Request) -> Bool {
        (request.headers[.init("X-Plex-Token")!] ?? request.uri.queryParameters["X-Plex-Token"].map(String.init)) == token
    }

    /// Plex's 401 is an HTML page.
    static var unauthorized: Response {
        Response(
            status: .unauthorized, headers: [.contentType: "text/html"],
            body: .init(byteBuffer: ByteBuffer(string: "<html><head><title>Unauthorized</title></head><body><h1>401 Unauthorized</h1></body></html>")))
    }

    /// An Audnexus agent's guid carries the ASIN; other albums have Plex's own.
    public static func guid(_ book: StandInBook) -> String {
        book.asin.map { "com.plexapp.agents.audnexus://\($0)_us?lang=en" } ?? "plex://album/\(book.id)"
    }

    public static func json(_ page: [StandInBook], total: Int, start: Int) -> String {
        var container: [String: JSONValue] = [
            "size": .int(Int64(page.count)), "totalSize": .int(Int64(total)), "offset": .int(Int64(start)), "allowSync": true,
            "identifier": "com.plexapp.plugins.library", "librarySectionID": 3, "librarySectionTitle": "Audiobooks",
            "title1": "Audiobooks", "title2": "All Albums", "viewGroup": "album",
        ]
        if !page.isEmpty {
            container["Metadata"] = .array(page.map { album in
                [
                    "ratingKey": .string(album.id), "key": .string("/library/metadata/\(album.id)/children"),
                    "guid": .string(guid(album)), "type": "album", "title": .string(album.title),
                    "parentTitle": .string(album.author), "index": 1, "leafCount": 1, "addedAt": .int(Int64(album.addedAt)),
                    "updatedAt": .int(Int64(album.addedAt + 100)),
                ]
            })
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(["MediaContainer": JSONValue.object(container)])) ?? Data(), as: UTF8.self)
    }

    public static func xml(_ page: [StandInBook], total: Int, start: Int) -> String {
        func escaped(_ text: String) -> String {
            text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "\"", with: "&quot;")
                .replacingOccurrences(of: "<", with: "&lt;")
        }
        let rows = page.map { album in
            #"<Directory ratingKey="\#(album.id)" guid="\#(escaped(guid(album)))" type="album" title="\#(escaped(album.title))" parentTitle="\#(escaped(album.author))" addedAt="\#(album.addedAt)"/>"#
        }.joined(separator: "\n")
        return #"<?xml version="1.0" encoding="UTF-8"?>"# + "\n"
            + #"<MediaContainer size="\#(page.count)" totalSize="\#(total)" offset="\#(start)">"# + "\n" + rows + "\n</MediaContainer>\n"
    }

    public static func respond(_ body: String) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    public static func respondXML(_ body: String) -> Response {
        Response(status: .ok, headers: [.contentType: "text/xml;charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
