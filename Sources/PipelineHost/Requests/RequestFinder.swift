import Foundation
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
        let column =
            switch query.order ?? .createdAt {
            case .downloadUpdatedAt: "d.updated_at"
            case let order: "r." + order.rawValue
            }
        var parameters: [String?] = [Self.arrayLiteral(query.status), String(limit)]
        var conditions = ["r.status = ANY($1::text[])"]
        func parameter(_ value: String) -> String {
            parameters.append(value)
            return "$\(parameters.count)"
        }
        if let download = query.download {
            if let statuses = download.status {
                guard statuses.allSatisfy(DownloadRecord.statuses.contains) else {
                    throw .invalidQuery(
                        "\"download.status\" takes \(DownloadRecord.statuses.sorted().joined(separator: ", ")), not \(statuses)")
                }
                conditions.append("d.status = ANY(\(parameter(Self.arrayLiteral(statuses)))::text[])")
            }
            if let id = download.clientID { conditions.append("lower(d.client_id) = lower(\(parameter(id)))") }
            switch (download.clientInstance, download.client) {
            case (let instance?, let kind?):
                conditions.append(
                    "(d.client_instance = \(parameter(instance)) OR (d.client_instance IS NULL AND d.client = \(parameter(kind))))")
            case (let instance?, nil):
                conditions.append("d.client_instance = \(parameter(instance))")
            case (nil, let kind?):
                conditions.append("d.client = \(parameter(kind))")
            case (nil, nil):
                break
            }
        }
        let sql = Self.snapshotSelect + """
             WHERE \(conditions.joined(separator: " AND "))
            ORDER BY \(column) ASC NULLS FIRST, r.created_at, r.id LIMIT $2
            """
        return (sql, parameters)
    }

    /// `values` as a PostgreSQL array literal, each element quoted, so that
    /// no value can end the array or add one.
    static func arrayLiteral(_ values: [String]) -> String {
        "{" + values.map { "\"" + $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" }
            .joined(separator: ",") + "}"
    }

    private static let snapshotSelect = """
        SELECT r.id, r.status, r.status_reason, r.title, r.author, r.asin, r.isbn, r.narrator, r.series,
               r.series_part, to_char(r.release_date, 'YYYY-MM-DD') AS release_date, r.search_attempts,
               r.import_attempts, to_json(r.last_search_at) #>> '{}' AS last_search_at,
               to_json(r.last_import_at) #>> '{}' AS last_import_at, to_json(r.created_at) #>> '{}' AS created_at,
               d.client, d.client_id, d.release_title, d.status AS download_status, d.save_path,
               d.client_instance, d.indexer,
               (SELECT json_agg(json_build_object('release_title', b.release_title, 'release_id', b.release_id))::text
                FROM (SELECT release_title, release_id FROM release_blocklist WHERE request_id = r.id
                      ORDER BY id DESC LIMIT \(RequestSnapshot.maximumBlocklist)) b) AS blocklist
        FROM requests r
        LEFT JOIN LATERAL (
            SELECT client, client_id, release_title, status, save_path, client_instance, indexer, updated_at
            FROM download_history
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
                    status: rows[index, "download_status"] ?? "", savePath: text("save_path"),
                    clientInstance: text("client_instance"), indexer: text("indexer"))
            }
            return RequestSnapshot(
                id: rows[index, "id"] ?? "", status: rows[index, "status"] ?? "", statusReason: text("status_reason"),
                book: .object(book), releaseDate: text("release_date"),
                searchAttempts: rows[index, "search_attempts"].flatMap(Int.init) ?? 0,
                importAttempts: rows[index, "import_attempts"].flatMap(Int.init) ?? 0,
                lastSearchAt: text("last_search_at"), lastImportAt: text("last_import_at"),
                createdAt: rows[index, "created_at"] ?? "", download: download,
                blocklist: rows[index, "blocklist"].flatMap {
                    try? JSONDecoder().decode([RequestSnapshot.BlockedRelease].self, from: Data($0.utf8))
                } ?? [])
        }
    }
}
