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
final class PlexStandIn: @unchecked Sendable {
    struct Album: Sendable {
        var ratingKey: String
        var title: String
        var author: String
        var guid: String
        var addedAt: Int
    }

    let token = "plex-\(UUID().uuidString.prefix(8))"
    let section = "3"
    private let albums = Mutex<[Album]>([])
    private(set) var port = 0
    private var task: Task<Void, any Error>?

    init() async throws {
        let router = Router()
        router.get("identity") { _, _ in
            Self.respond(#"{"MediaContainer":{"size":0,"claimed":true,"machineIdentifier":"96f2fe7a78c9","version":"1.41.3.9314-a0bfb8370"}}"#)
        }
        router.get("library/sections/:id/all") { [self] request, context in
            guard authorized(request) else {
                return Response(
                    status: .unauthorized, headers: [.contentType: "text/html"],
                    body: .init(byteBuffer: ByteBuffer(string: "<html><head><title>Unauthorized</title></head><body><h1>401 Unauthorized</h1></body></html>")))
            }
            guard try context.parameters.require("id") == section else { return Response(status: .notFound) }
            func parameter(_ name: String) -> Int? {
                request.uri.queryParameters[Substring(name)].flatMap { Int($0) }
                    ?? request.headers[.init(name)!].flatMap { Int($0) }
            }
            var list = albums.withLock { $0 }
            if request.uri.queryParameters["sort"] == "addedAt:desc" { list.sort { $0.addedAt > $1.addedAt } }
            let start = parameter("X-Plex-Container-Start") ?? 0
            let size = parameter("X-Plex-Container-Size") ?? list.count
            let page = Array(list.dropFirst(start).prefix(size))
            let wantsJSON = request.headers[.accept]?.contains("application/json") == true
            return wantsJSON ? Self.respond(Self.json(page, total: list.count, start: start)) : Self.respondXML(Self.xml(page, total: list.count, start: start))
        }
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) },
            logger: Logger(label: "plex", factory: { _ in SwiftLogNoOpLogHandler() }))
        task = Task { try await app.runService() }
        var iterator = ports.makeAsyncIterator()
        port = await iterator.next() ?? 0
    }

    deinit { task?.cancel() }

    var url: String { "http://127.0.0.1:\(port)" }

    func add(_ album: Album) { albums.withLock { $0.append(album) } }
    func remove(_ ratingKey: String) { albums.withLock { $0.removeAll { $0.ratingKey == ratingKey } } }

    private func authorized(_ request: Request) -> Bool {
        (request.headers[.init("X-Plex-Token")!] ?? request.uri.queryParameters["X-Plex-Token"].map(String.init)) == token
    }

    static func json(_ page: [Album], total: Int, start: Int) -> String {
        var container: [String: JSONValue] = [
            "size": .int(Int64(page.count)), "totalSize": .int(Int64(total)), "offset": .int(Int64(start)), "allowSync": true,
            "identifier": "com.plexapp.plugins.library", "librarySectionID": 3, "librarySectionTitle": "Audiobooks",
            "title1": "Audiobooks", "title2": "All Albums", "viewGroup": "album",
        ]
        if !page.isEmpty {
            container["Metadata"] = .array(page.map { album in
                [
                    "ratingKey": .string(album.ratingKey), "key": .string("/library/metadata/\(album.ratingKey)/children"),
                    "guid": .string(album.guid), "type": "album", "title": .string(album.title),
                    "parentTitle": .string(album.author), "index": 1, "leafCount": 1, "addedAt": .int(Int64(album.addedAt)),
                    "updatedAt": .int(Int64(album.addedAt + 100)),
                ]
            })
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(["MediaContainer": JSONValue.object(container)])) ?? Data(), as: UTF8.self)
    }

    static func xml(_ page: [Album], total: Int, start: Int) -> String {
        func escaped(_ text: String) -> String {
            text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "\"", with: "&quot;")
                .replacingOccurrences(of: "<", with: "&lt;")
        }
        let rows = page.map { album in
            #"<Directory ratingKey="\#(album.ratingKey)" guid="\#(escaped(album.guid))" type="album" title="\#(escaped(album.title))" parentTitle="\#(escaped(album.author))" addedAt="\#(album.addedAt)"/>"#
        }.joined(separator: "\n")
        return #"<?xml version="1.0" encoding="UTF-8"?>"# + "\n"
            + #"<MediaContainer size="\#(page.count)" totalSize="\#(total)" offset="\#(start)">"# + "\n" + rows + "\n</MediaContainer>\n"
    }

    static func respond(_ body: String) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    static func respondXML(_ body: String) -> Response {
        Response(status: .ok, headers: [.contentType: "text/xml;charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
