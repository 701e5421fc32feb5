import Foundation
import PluginHTTP
import PluginKit

/// A media server that holds the audiobook library (Plex, Audiobookshelf),
/// as the library jobs need it: read its books a page at a time, and ask it
/// to scan its folders. ``LibraryBackendPlugin`` writes the jobs once over it.
///
/// Errors are ``PluginError``s: permanent for what a person must fix (a
/// refused token, a library that does not exist), transient for the rest.
public protocol LibraryBackend: Sendable {
    /// The plugin's descriptor fields; its job types are ``LibraryBackendPlugin/jobTypes``.
    static var pluginInfo: PluginInfo { get }
    /// The name the host records the library's items under ("plex").
    static var backendName: String { get }
    /// The server's name in messages ("Plex").
    static var displayName: String { get }
    /// A server URL for the error that a bad `url` setting gets ("http://127.0.0.1:32400").
    static var exampleURL: String { get }

    /// A backend for the server `server` names, calling it through `http`.
    /// It must not do I/O.
    init(server: LibraryServerSettings, http: HTTPClient) throws

    /// Books from `offset` (a multiple of `limit`), at most `limit`, oldest
    /// added first or newest first.
    func books(offset: Int, limit: Int, newestFirst: Bool) async throws -> LibraryPage

    /// Asks the server to scan its library folders (just `path`, if it can)
    /// for new files. It answers at once and scans in the background.
    func requestScan(path: String?) async throws
}

/// One page of a library listing.
public struct LibraryPage: Sendable {
    /// The audiobooks on the page (items without audio, such as ebooks, left out).
    public var books: [JobContext.LibraryItem]
    /// How many items the server put on the page, audiobooks or not (for paging).
    public var listed: Int
    /// How many items the whole listing has.
    public var total: Int

    /// The server's figures are held to 0...Int32.max (a server's answer is
    /// outside input; paging adds them up).
    public init(books: [JobContext.LibraryItem], listed: Int, total: Int) {
        self.books = books
        self.listed = min(max(0, listed), Int(Int32.max))
        self.total = min(max(0, total), Int(Int32.max))
    }
}

/// Where the library is: the server settings every library plugin reads.
public struct LibraryServerSettings: Sendable {
    /// The server's base URL, without a trailing slash.
    public var url: URL
    /// The credential (a Plex token, an Audiobookshelf API key); may be empty.
    public var token: String
    /// The library on the server that holds the audiobooks; may be empty
    /// (the jobs then fail naming the setting).
    public var libraryID: String

    public init(url: URL, token: String, libraryID: String) {
        self.url = url
        self.token = token
        self.libraryID = libraryID
    }
}

/// What every library plugin's config has, beside its server settings.
public struct LibraryBackendSettings: Decodable, Sendable {
    /// How many of the newest books `library_recently_added_check` reads (default 10).
    public var recentlyAdded: Int
    /// Books per page of `scan_library` (default 100).
    public var pageSize: Int
    /// After asking the server to scan, how long to wait before reading the
    /// newest books (default 30 s).
    public var scanSettleSeconds: Double
    /// The HTTP timeout for one call to the server (default 30 s).
    public var requestTimeoutSeconds: Double

    enum CodingKeys: String, CodingKey {
        case recentlyAdded = "recently_added"
        case pageSize = "page_size"
        case scanSettleSeconds = "scan_settle_seconds"
        case requestTimeoutSeconds = "request_timeout_seconds"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        recentlyAdded = try container.decodeIfPresent(Int.self, forKey: .recentlyAdded) ?? 10
        pageSize = try container.decodeIfPresent(Int.self, forKey: .pageSize) ?? 100
        scanSettleSeconds = try container.decodeIfPresent(Double.self, forKey: .scanSettleSeconds) ?? 30
        requestTimeoutSeconds = try container.decodeIfPresent(Double.self, forKey: .requestTimeoutSeconds) ?? 30
        guard (1...10_000).contains(recentlyAdded), (1...10_000).contains(pageSize), (0...86_400).contains(scanSettleSeconds),
            requestTimeoutSeconds > 0, requestTimeoutSeconds <= 3_600
        else {
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: [],
                    debugDescription:
                        "recently_added and page_size must be from 1 to 10000, scan_settle_seconds from 0 to 86400, "
                        + "request_timeout_seconds above 0 and at most 3600"))
        }
    }

}

/// What a library server is told in error messages, per backend.
public struct LibraryServerHelp: Sendable {
    /// What `token` should be ("an X-Plex-Token of the server's owner").
    public var token: String
    /// What `library_id` should be ("the key of the Plex library holding the audiobooks").
    public var libraryID: String

    public init(token: String, libraryID: String) {
        self.token = token
        self.libraryID = libraryID
    }
}

extension LibraryBackend {
    /// Calls the server at `path` under its base URL (`{library}` replaced
    /// by the escaped library id) and maps the answers every library server
    /// shares: 2xx returned; 401, 403 and 404 permanent errors that say which
    /// setting to fix; anything else, and no answer, transient.
    public static func call(
        _ server: LibraryServerSettings, via http: HTTPClient, method: String = "GET", path: String,
        query: [(String, String)] = [], headers: [String: String], help: LibraryServerHelp
    ) async throws -> HTTPResponse {
        guard !server.libraryID.isEmpty else {
            throw PluginError.permanent("library_id is empty in the library plugin's config: set it to \(help.libraryID)")
        }
        let route = path.replacingOccurrences(of: "{library}", with: FormEncoding.escape(server.libraryID))
        let suffix = query.isEmpty ? "" : "?" + FormEncoding.encode(query)
        let base = server.url.absoluteString
        guard let url = URL(string: base + route + suffix) else {
            throw PluginError.permanent("cannot build a URL from \(base) and \(route)")
        }
        let response: HTTPResponse
        do {
            response = try await http.send(HTTPRequest(method: method, url: url, headers: headers))
        } catch {
            throw PluginError.transient("\(displayName) at \(base): \(error)")
        }
        switch response.status {
        case 200..<300:
            return response
        case 401:
            throw PluginError.permanent(
                "\(displayName) refused the token (401) at \(base): set token in the library plugin's config to \(help.token)")
        case 403:
            throw PluginError.permanent(
                "\(displayName) forbids \(method) \(route) (403) to the token's user: give that user access to library \(server.libraryID)"
                    + (method == "GET" ? "" : " and admin rights"))
        case 404:
            throw PluginError.permanent(
                "\(displayName) has no library \(server.libraryID) (404: \(response.excerpt)): set library_id to \(help.libraryID)")
        default:
            throw PluginError.transient("\(displayName) answered \(response.status) to \(method) \(route): \(response.excerpt)")
        }
    }
}

/// Times as library servers report them, written as ISO 8601.
public enum LibraryDates {
    /// `seconds` since the epoch as ISO 8601, when it is a time from 1970 to
    /// 9999 (a server's figure is outside input: NaN or 1e300 gives nil).
    public static func iso8601(epochSeconds seconds: Double) -> String? {
        guard seconds.isFinite, (0...253_402_300_799).contains(seconds) else { return nil }
        return ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: seconds))
    }
}
