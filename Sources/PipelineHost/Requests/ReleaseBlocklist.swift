import Foundation

/// A blocklisted release as the admin API and page show it.
public struct BlocklistRecord: Sendable, Equatable, Codable {
    /// The row's id: what removing it names.
    public var id: Int64
    public var requestID: String
    /// The book, for a list that spans requests.
    public var title: String
    public var releaseTitle: String
    public var releaseID: String?
    public var indexer: String?
    public var `protocol`: String?
    public var reason: String
    public var createdAt: String

    /// camelCase, as the rest of the admin API answers.
    enum CodingKeys: String, CodingKey {
        case id, title, indexer, reason, releaseTitle, createdAt
        case requestID = "requestId"
        case releaseID = "releaseId"
        case `protocol` = "protocol"
    }
}

/// The releases each request must not take again (`release_blocklist`).
///
/// The download jobs add to it through a request transition's `blocklist`
/// details when a download fails in its client (``RequestUpdate``); every
/// search the host builds for the request carries it
/// (``RequestSnapshot/searchPayload(manual:)``); an operator reads and
/// prunes it through the admin API and page.
extension RequestLedger {
    /// The blocklist of request `id` (newest first), or of every request
    /// when `id` is nil, at most `limit` entries.
    public func blocklist(request id: String? = nil, limit: Int = 200) async throws(RequestLedgerError) -> [BlocklistRecord] {
        guard (1...1_000).contains(limit) else { throw .invalidQuery("\"limit\" must be from 1 to 1000, not \(limit)") }
        let rows: PostgresRows
        do {
            rows = try await client.query(
                """
                SELECT b.id, b.request_id, r.title, b.release_title, b.release_id, b.indexer, b.protocol, b.reason,
                       to_json(b.created_at) #>> '{}' AS created_at
                FROM release_blocklist b JOIN requests r ON r.id = b.request_id
                WHERE $1::text IS NULL OR b.request_id = $1
                ORDER BY b.id DESC LIMIT $2
                """, [id, String(limit)])
        } catch {
            throw .database(error.description)
        }
        return (0..<rows.count).map { index in
            BlocklistRecord(
                id: rows[index, "id"].flatMap { Int64($0) } ?? 0, requestID: rows[index, "request_id"] ?? "",
                title: rows[index, "title"] ?? "", releaseTitle: rows[index, "release_title"] ?? "",
                releaseID: rows[index, "release_id"], indexer: rows[index, "indexer"], protocol: rows[index, "protocol"],
                reason: rows[index, "reason"] ?? "", createdAt: rows[index, "created_at"] ?? "")
        }
    }

    /// Takes entry `entryID` off request `id`'s blocklist, so that the
    /// request's next search may choose that release again.
    ///
    /// - Returns: whether there was such an entry.
    public func unblock(request id: String, entry entryID: Int64) async throws(RequestLedgerError) -> Bool {
        do {
            let rows = try await client.query(
                "DELETE FROM release_blocklist WHERE request_id = $1 AND id = $2 RETURNING id", [id, String(entryID)])
            return rows.count == 1
        } catch {
            throw .database(error.description)
        }
    }
}
