import Foundation
import PipelineJSON
import PluginKit

/// A library backend as the host's library jobs use it, whatever it is
/// written in: a Swift ``LibraryBackend``, or a C plugin's
/// `pp_library_backend` table.
///
/// Errors are ``PluginError``s: permanent for what a person must fix (a
/// refused token), transient for the rest.
public protocol LibraryBackendDriver: Sendable {
    /// The backend's short name: `plex`, `audiobookshelf`.
    var kind: String { get }
    /// Its name for people: "Plex".
    var displayName: String { get }
    /// Books from `offset`, at most `limit`, oldest added first or newest first.
    func books(offset: Int, limit: Int, newestFirst: Bool) async throws -> LibraryPage
    /// Asks the server to scan (just `path`, if it can).
    func requestScan(path: String?) async throws
    /// Checks the server answers, takes the token and has the library; says what it found.
    func test() async throws -> String
}

extension LibraryPage {
    /// The page as the ABI's `books` result.
    public var json: JSONValue {
        let items = (try? JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(books))) ?? .array([])
        return ["total": .int(Int64(total)), "listed": .int(Int64(listed)), "items": items]
    }

    /// Reads a driver's `books` result.
    public init(json: JSONValue) throws {
        guard case .object = json, let total = json["total"]?.intValue else {
            throw PluginError.transient("the page of books is not an object with \"total\", \"listed\" and \"items\"")
        }
        let items = json["items"] ?? .array([])
        let books = try JSONDecoder().decode([JobContext.LibraryItem].self, from: JSONEncoder().encode(items))
        self.init(books: books, listed: Int(clamping: json["listed"]?.intValue ?? Int64(books.count)), total: Int(clamping: total))
    }
}
