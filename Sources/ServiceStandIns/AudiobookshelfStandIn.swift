import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import PipelineJSON
import Synchronization

/// Audiobookshelf 2.36's API as the real server answers it
/// (../shared/research/service-apis.md §3): the token in
/// `Authorization: Bearer` or `?token=`; auth before routing, so any
/// `/api/...` path without a good token is a 401 with the bare text
/// `Unauthorized` and no content type; errors as text (`Library not found`
/// as HTML, `Forbidden` as plain text); an unknown route Express's
/// `Cannot GET` page; items paged from page 0 (`limit` 0 or absent: all);
/// the minified list item shape; times in epoch milliseconds; `/ping`,
/// `/healthcheck` and `/status` open, outside `/api`.
public final class AudiobookshelfStandIn: LibraryServerStandIn, @unchecked Sendable {
    public let pluginFile = "libLibraryABS.so"
    public let backendName = "audiobookshelf"
    public let token = "eyJhbGciOiJIUzI1NiJ9.\(UUID().uuidString.prefix(12)).api"
    public let libraryID = UUID().uuidString.lowercased()
    public let folderID = UUID().uuidString.lowercased()
    public let faults = StandInFaults()
    /// False: the token's user is not an admin, so a scan is forbidden.
    public let isAdmin: Bool
    public let shelf = StandInShelf()
    public private(set) var port = 0
    private var task: Task<Void, any Error>?

    public init(isAdmin: Bool = true) async throws {
        self.isAdmin = isAdmin
        let router = Router()
        router.add(middleware: AuthenticationBeforeRouting(token: token))
        router.get("ping") { _, _ in Self.json(#"{"success":true}"#) }
        router.get("healthcheck") { _, _ in Self.text(.ok, "OK") }
        router.get("status") { _, _ in
            Self.json(#"{"app":"audiobookshelf","serverVersion":"2.36.0","isInit":true,"language":"en-us","authMethods":["local"],"authFormData":{}}"#)
        }
        router.get("api/libraries") { [self] _, _ in
            if let injected = try await faults.injected() { return injected }
            return Self.json(Self.encode(["libraries": .array([libraryJSON])]))
        }
        router.get("api/libraries/:id/items") { [self] request, context in
            if let injected = try await faults.injected() { return injected }
            guard try context.parameters.require("id") == libraryID else { return Self.html(.notFound, "Library not found") }
            // Express's parsing: a non-number is 0; a negative or fractional number is refused.
            // nil: refused.
            func number(_ name: String) -> Int? {
                guard let raw = request.uri.queryParameters[Substring(name)], let value = Double(raw) else { return 0 }
                guard value >= 0, value.rounded() == value else { return nil }
                return Int(value)
            }
            guard let limit = number("limit") else { return Self.text(.badRequest, "Invalid request. limit must be a positive integer") }
            guard let page = number("page") else { return Self.text(.badRequest, "Invalid request. page must be a positive integer") }
            var books = shelf.listing
            let sort = request.uri.queryParameters["sort"].map(String.init)
            let descending = request.uri.queryParameters["desc"] == "1"
            if sort == "addedAt" { books.sort { descending ? $0.addedAt > $1.addedAt : $0.addedAt < $1.addedAt } }
            let slice = limit == 0 ? books[...] : books.dropFirst(page * limit).prefix(limit)
            var envelope: [String: JSONValue] = [
                "results": .array(slice.map(itemJSON)), "total": .int(Int64(books.count)), "limit": .int(Int64(limit)),
                "page": .int(Int64(page)), "sortDesc": .bool(descending), "mediaType": "book", "minified": false,
                "collapseseries": false, "include": "", "offset": .int(Int64(page * limit)),
            ]
            if let sort { envelope["sortBy"] = .string(sort) }
            return Self.json(Self.encode(.object(envelope)))
        }
        router.post("api/libraries/:id/scan") { [self] _, context in
            if let injected = try await faults.injected() { return injected }
            guard try context.parameters.require("id") == libraryID else { return Self.html(.notFound, "Library not found") }
            guard isAdmin else { return Self.text(.forbidden, "Forbidden") }
            shelf.recordScan(nil)
            return Self.text(.ok, "OK")
        }
        (port, task) = try await startStandIn(router, label: "audiobookshelf")
    }

    deinit { task?.cancel() }

    public var url: String { "http://127.0.0.1:\(port)" }

    private var libraryJSON: JSONValue {
        [
            "id": .string(libraryID), "name": "Audiobooks",
            "folders": [["id": .string(folderID), "fullPath": "/audiobooks", "libraryId": .string(libraryID), "addedAt": 1_700_000_000_000]],
            "displayOrder": 1, "icon": "audiobookshelf", "mediaType": "book", "provider": "audible",
            "settings": ["coverAspectRatio": 1, "disableWatcher": false, "audiobooksOnly": false],
            "lastScan": 1_730_005_000_000, "lastScanVersion": "2.36.0", "createdAt": 1_700_000_000_000, "lastUpdate": 1_730_005_000_000,
        ]
    }

    /// The minified list item: no `authors[]`, but `authorName`; `publishedYear` a string.
    private func itemJSON(_ book: StandInBook) -> JSONValue {
        let path = "/audiobooks/\(book.author)/\(book.title)"
        let milliseconds = JSONValue.int(Int64(book.addedAt) * 1000)
        var media: [String: JSONValue] = [
            "id": .string(UUID().uuidString.lowercased()),
            "metadata": [
                "title": .string(book.title), "titleIgnorePrefix": .string(book.title), "subtitle": .null,
                "authorName": .string(book.author), "authorNameLF": .string(book.author), "narratorName": "",
                "seriesName": "", "genres": [], "publishedYear": "2021", "publishedDate": .null, "publisher": .null,
                "description": .null, "isbn": book.isbn.map(JSONValue.string) ?? .null,
                "asin": book.asin.map(JSONValue.string) ?? .null, "language": "English", "explicit": false, "abridged": false,
            ],
            "coverPath": .null, "tags": [], "numTracks": .int(book.hasAudio ? 1 : 0), "numAudioFiles": .int(book.hasAudio ? 1 : 0),
            "numChapters": .int(book.hasAudio ? 12 : 0), "duration": .double(book.hasAudio ? 36_000.5 : 0), "size": 104_857_600,
        ]
        if !book.hasAudio { media["ebookFormat"] = "epub" }
        return [
            "id": .string(book.id), "ino": "1234567", "oldLibraryItemId": .null, "libraryId": .string(libraryID),
            "folderId": .string(folderID), "path": .string(path), "relPath": .string("\(book.author)/\(book.title)"),
            "isFile": false, "mtimeMs": milliseconds, "ctimeMs": milliseconds, "birthtimeMs": milliseconds,
            "addedAt": milliseconds, "updatedAt": milliseconds, "isMissing": false, "isInvalid": false, "mediaType": "book",
            "media": .object(media), "numFiles": 2, "size": 104_900_000,
        ]
    }

    public static func encode(_ value: JSONValue) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(value)) ?? Data(), as: UTF8.self)
    }

    public static func json(_ body: String) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    public static func text(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    public static func html(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(status: status, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    /// Passport's JWT check on every `/api` path before routing, then
    /// Express's 404 page for routes that do not exist.
    struct AuthenticationBeforeRouting<Context: RequestContext>: RouterMiddleware {
        let token: String

        func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
            if request.uri.path.hasPrefix("/api/") || request.uri.path == "/api" {
                let bearer = request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
                guard (bearer ?? request.uri.queryParameters["token"].map(String.init)) == token else {
                    return Response(status: .unauthorized, body: .init(byteBuffer: ByteBuffer(string: "Unauthorized")))
                }
            }
            do {
                return try await next(request, context)
            } catch let error as HTTPError where error.status == .notFound {
                return AudiobookshelfStandIn.html(
                    .notFound,
                    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Error</title>\n</head>\n<body>\n<pre>Cannot \(request.method.rawValue) \(request.uri.path)</pre>\n</body>\n</html>\n")
            }
        }
    }
}
