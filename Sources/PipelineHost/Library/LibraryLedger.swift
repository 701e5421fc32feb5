import PipelinePayloads
import Foundation

/// A library report's JSON, read.
enum LibraryReport {
    struct Malformed: Error, CustomStringConvertible {
        var description: String
    }

    /// The books of `json`: an array of objects with `id` and `title`.
    static func books(fromJSON json: String) throws -> [LibraryBook] {
        do {
            let books = try JSONDecoder().decode([LibraryBook].self, from: Data(json.utf8))
            guard books.allSatisfy({ !$0.id.isEmpty }) else { throw Malformed(description: "an item has an empty id") }
            return books
        } catch let error as Malformed {
            throw error
        } catch let DecodingError.keyNotFound(key, context) {
            throw Malformed(description: "item \(context.codingPath.first?.intValue ?? 0) lacks '\(key.stringValue)'")
        } catch {
            throw Malformed(description: "items must be a JSON array of objects with id and title: \(error)")
        }
    }
}

/// What a library report did.
public struct LibraryReportOutcome: Sendable, Equatable {
    public var recorded: Int
    public var removed: Int
    /// Request id → the library item it matched.
    public var matched: [String: String]
}

/// `library_items` and the requests they make `available`.
///
/// A report upserts its items (keyed by backend and item id); a complete one
/// removes the backend's items it did not list. Then open requests are
/// matched (``LibraryMatcher``): against every item of the backend after a
/// complete listing, against the reported items otherwise. A match moves
/// the request to `available` through the ledger (counters cleared).
public struct LibraryLedger: Sendable {
    let client: PostgresClient
    let ledger: RequestLedger

    public init(client: PostgresClient) {
        self.client = client
        ledger = RequestLedger(client: client)
    }

    /// The statuses a library match moves to `available`.
    public static let matchable: [RequestStatus] = [
        .pending, .awaitingRelease, .awaitingSearch, .searching, .downloading, .processing, .awaitingImport, .warn,
        .downloaded, .failed,
    ]

    public func apply(backend: String, items: [LibraryBook], complete: Bool) async throws(PostgresError) -> LibraryReportOutcome {
        let started = try await client.query("SELECT now()").rows.first?.first.flatMap { $0 } ?? ""
        for item in items {
            try await client.query(
                """
                INSERT INTO library_items (backend, item_id, title, author, asin, isbn, path, added_at, seen_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8::timestamptz, now())
                ON CONFLICT (backend, item_id) DO UPDATE SET title = EXCLUDED.title, author = EXCLUDED.author,
                    asin = EXCLUDED.asin, isbn = EXCLUDED.isbn, path = EXCLUDED.path,
                    added_at = COALESCE(EXCLUDED.added_at, library_items.added_at), seen_at = now()
                """,
                [backend, item.id, item.title, item.author, item.asin, item.isbn, item.path, Self.timestamp(item.addedAt)])
        }
        var removed = 0
        var candidates = items
        if complete {
            removed = try await client.query(
                "DELETE FROM library_items WHERE backend = $1 AND seen_at < $2::timestamptz RETURNING item_id", [backend, started]
            ).count
            candidates = try await client.query(
                "SELECT item_id, title, author, asin, isbn FROM library_items WHERE backend = $1", [backend]
            ).rows.map { LibraryBook(id: $0[0] ?? "", title: $0[1] ?? "", author: $0[2] ?? "", asin: $0[3], isbn: $0[4]) }
        }
        var matched: [String: String] = [:]
        guard !candidates.isEmpty else { return LibraryReportOutcome(recorded: items.count, removed: removed, matched: matched) }
        let open = try await client.query(
            "SELECT id, title, author, asin, isbn FROM requests WHERE status = ANY($1::text[])",
            ["{" + Self.matchable.map(\.rawValue).joined(separator: ",") + "}"])
        for row in open.rows {
            guard let id = row[0] else { continue }
            let wanted = RequestedBook(title: row[1] ?? "", author: row[2] ?? "", asin: row[3], isbn: row[4])
            guard let (item, evidence) = LibraryMatcher.match(wanted, in: candidates) else { continue }
            let how: String
            switch evidence {
            case .asin: how = "same ASIN"
            case .isbn: how = "same ISBN"
            case .similarity(let score): how = "title and author alike, \(String(format: "%.2f", score))"
            }
            do {
                try await ledger.transition(id, to: .available, reason: "in the \(backend) library as '\(item.title)' (\(how))")
                matched[id] = item.id
            } catch {
                continue  // moved meanwhile, or no longer matchable
            }
        }
        return LibraryReportOutcome(recorded: items.count, removed: removed, matched: matched)
    }

    static func timestamp(_ text: String?) -> String? {
        guard let text, ISO8601DateFormatter().date(from: text) != nil else { return nil }
        return text
    }
}
