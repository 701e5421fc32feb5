import PipelineJSON
import PipelinePayloads

/// Reads requests with everything a job needs to work on them: the book, the
/// counters and times, and the latest download (``RequestSnapshot``). Serves
/// `find_requests` (since ABI 1.2) and the payloads the admin API builds.
extension RequestLedger {
    /// The requests `query` selects, on the calling thread (a plugin's
    /// worker thread, which may block).
    ///
    /// - Throws: ``RequestLedgerError/database(_:)`` when PostgreSQL cannot be read,
    ///   and a `refused` error for a query that names an unknown status.
    func findSync(_ query: RequestQuery) throws(RequestLedgerError) -> [RequestSnapshot] {
        let (sql, parameters) = try Self.findStatement(query)
        do {
            return try Self.snapshots(client.querySync(sql, parameters))
        } catch {
            throw .database(error.description)
        }
    }

    /// The requests `query` selects.
    public func find(_ query: RequestQuery) async throws(RequestLedgerError) -> [RequestSnapshot] {
        let (sql, parameters) = try Self.findStatement(query)
        do {
            return try Self.snapshots(await client.query(sql, parameters))
        } catch {
            throw .database(error.description)
        }
    }

    /// Request `id` as a snapshot, or nil.
    public func snapshot(_ id: String) async throws(RequestLedgerError) -> RequestSnapshot? {
        do {
            return try Self.snapshots(await client.query(Self.snapshotSelect + " WHERE r.id = $1", [id])).first
        } catch {
            throw .database(error.description)
        }
    }

    static func findStatement(_ query: RequestQuery) throws(RequestLedgerError) -> (String, [String?]) {
        guard !query.status.isEmpty else { throw .invalidQuery("\"status\" must name at least one request status") }
        for status in query.status where RequestStatus(rawValue: status) == nil {
            throw .invalidQuery("\"\(status)\" is not a request status (docs/requests.md)")
        }
        let limit = query.limit ?? 50
        guard (1...RequestQuery.maximumLimit).contains(limit) else {
            throw .invalidQuery("\"limit\" must be from 1 to \(RequestQuery.maximumLimit), not \(limit)")
        }
        // The column comes from a closed enum, never from the caller's text.
        let column = (query.order ?? .createdAt).rawValue
        let sql = Self.snapshotSelect + """
             WHERE r.status = ANY($1::text[])
            ORDER BY r.\(column) ASC NULLS FIRST, r.created_at, r.id LIMIT $2
            """
        return (sql, ["{" + query.status.joined(separator: ",") + "}", String(limit)])
    }

    private static let snapshotSelect = """
        SELECT r.id, r.status, r.status_reason, r.title, r.author, r.asin, r.isbn, r.narrator, r.series,
               r.series_part, to_char(r.release_date, 'YYYY-MM-DD') AS release_date, r.search_attempts,
               r.import_attempts, to_json(r.last_search_at) #>> '{}' AS last_search_at,
               to_json(r.last_import_at) #>> '{}' AS last_import_at, to_json(r.created_at) #>> '{}' AS created_at,
               d.client, d.client_id, d.release_title, d.status AS download_status, d.save_path
        FROM requests r
        LEFT JOIN LATERAL (
            SELECT client, client_id, release_title, status, save_path FROM download_history
            WHERE request_id = r.id ORDER BY (status = 'completed') DESC, updated_at DESC, id DESC LIMIT 1
        ) d ON true
        """

    static func snapshots(_ rows: PostgresRows) -> [RequestSnapshot] {
        (0..<rows.count).map { index in
            func text(_ column: String) -> String? { rows[index, column].flatMap { $0.isEmpty ? nil : $0 } }
            var book: [String: JSONValue] = ["title": .string(rows[index, "title"] ?? ""), "author": .string(rows[index, "author"] ?? "")]
            for (column, key) in [
                ("asin", BookFields.asin), ("isbn", BookFields.isbn), ("narrator", BookFields.narrator),
                ("series", BookFields.series), ("series_part", BookFields.seriesPart), ("release_date", "release_date"),
            ] {
                if let value = text(column) { book[key] = .string(value) }
            }
            if let date = text("release_date") { book[BookFields.year] = .string(String(date.prefix(4))) }
            let download = text("client").map { client in
                RequestSnapshot.DownloadRecord(
                    client: client, clientID: text("client_id"), releaseTitle: rows[index, "release_title"] ?? "",
                    status: rows[index, "download_status"] ?? "", savePath: text("save_path"))
            }
            return RequestSnapshot(
                id: rows[index, "id"] ?? "", status: rows[index, "status"] ?? "", statusReason: text("status_reason"),
                book: .object(book), releaseDate: text("release_date"),
                searchAttempts: rows[index, "search_attempts"].flatMap(Int.init) ?? 0,
                importAttempts: rows[index, "import_attempts"].flatMap(Int.init) ?? 0,
                lastSearchAt: text("last_search_at"), lastImportAt: text("last_import_at"),
                createdAt: rows[index, "created_at"] ?? "", download: download)
        }
    }
}
