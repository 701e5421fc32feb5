import Foundation

/// An audiobook request as the ledger holds it.
public struct RequestRecord: Sendable, Hashable, Codable {
    public var id: String
    public var title: String
    public var author: String
    public var asin: String?
    public var status: RequestStatus
    public var statusReason: String?
    public var progress: Double
    public var createdAt: String
    public var updatedAt: String
}

/// A request to add to the ledger: the book it asks for.
public struct NewRequest: Sendable, Hashable, Decodable {
    public var id: String
    public var title: String
    public var author: String
    public var asin: String?
    public var isbn: String?
    public var narrator: String?
    public var series: String?
    public var seriesPart: String?
    /// YYYY-MM-DD; a date after today makes the search wait (`awaiting_release`).
    public var releaseDate: String?

    public init(
        id: String = UUID().uuidString.lowercased(), title: String, author: String, asin: String? = nil,
        isbn: String? = nil, narrator: String? = nil, series: String? = nil, seriesPart: String? = nil,
        releaseDate: String? = nil
    ) {
        self.id = id
        self.title = title
        self.author = author
        self.asin = asin
        self.isbn = isbn
        self.narrator = narrator
        self.series = series
        self.seriesPart = seriesPart
        self.releaseDate = releaseDate
    }

    enum CodingKeys: String, CodingKey {
        case id, title, author, asin, isbn, narrator, series
        case seriesPart = "series_part"
        case releaseDate = "release_date"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func optional(_ key: CodingKeys) throws -> String? {
            try container.decodeIfPresent(String.self, forKey: key).flatMap {
                let trimmed = $0.trimmingCharacters(in: .whitespaces)
                return trimmed.isEmpty ? nil : trimmed
            }
        }
        id = try optional(.id) ?? UUID().uuidString.lowercased()
        title = try container.decode(String.self, forKey: .title)
        author = try container.decode(String.self, forKey: .author)
        asin = try optional(.asin)
        isbn = try optional(.isbn)
        narrator = try optional(.narrator)
        series = try optional(.series)
        seriesPart = try optional(.seriesPart)
        releaseDate = try optional(.releaseDate)
    }
}

/// A request the ledger refused to move, or could not find.
public enum RequestLedgerError: Error, Sendable, CustomStringConvertible, Equatable {
    case notFound(String)
    case refused(id: String, from: RequestStatus, to: RequestStatus, reason: String)
    case database(String)
    /// A request selection (``RequestQuery``) that cannot be run, and why.
    case invalidQuery(String)

    public var description: String {
        switch self {
        case .notFound(let id): return "no request \(id)"
        case .refused(let id, _, _, let reason): return "request \(id): \(reason)"
        case .database(let message): return message
        case .invalidQuery(let why): return "bad request query: \(why)"
        }
    }
}

/// The requests in PostgreSQL, moved only along ``RequestTransitions``.
///
/// Every move reads the current status under a row lock and writes the new
/// one in the same transaction, so two hosts moving one request cannot both
/// win from the same status.
public final class RequestLedger: Sendable {
    let client: PostgresClient

    public init(client: PostgresClient) {
        self.client = client
    }

    /// Adds a request in `status` (default `pending`) and returns it.
    public func create(
        id: String = UUID().uuidString.lowercased(), title: String, author: String, asin: String? = nil,
        status: RequestStatus = .pending
    ) async throws(RequestLedgerError) -> RequestRecord {
        try await create(NewRequest(id: id, title: title, author: author, asin: asin), status: status)
    }

    /// Adds `new` in `status` (default `pending`) and returns it.
    ///
    /// - Throws: ``RequestLedgerError/invalidQuery(_:)`` for a release date
    ///   that is not YYYY-MM-DD; `database` when PostgreSQL refuses.
    public func create(_ new: NewRequest, status: RequestStatus = .pending) async throws(RequestLedgerError) -> RequestRecord {
        if let date = new.releaseDate, date.wholeMatch(of: /\d{4}-\d{2}-\d{2}/) == nil {
            throw .invalidQuery("release_date '\(date)' is not a date such as 2026-03-17")
        }
        let rows: PostgresRows
        do {
            rows = try await client.query(
                """
                INSERT INTO requests (id, title, author, asin, isbn, narrator, series, series_part, release_date, status)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::date, $10)
                RETURNING \(Self.columns)
                """,
                [
                    new.id, new.title, new.author, new.asin, new.isbn, new.narrator, new.series, new.seriesPart, new.releaseDate,
                    status.rawValue,
                ])
        } catch {
            throw .database(error.description)
        }
        return try Self.record(rows, 0)
    }

    /// The request with `id`, or nil.
    public func request(_ id: String) async throws(RequestLedgerError) -> RequestRecord? {
        let rows: PostgresRows
        do {
            rows = try await client.query("SELECT \(Self.columns) FROM requests WHERE id = $1", [id])
        } catch {
            throw .database(error.description)
        }
        return rows.count == 0 ? nil : try Self.record(rows, 0)
    }

    /// Moves request `id` to `status`, if that move is legal.
    ///
    /// - Returns: the status it had before (equal to `status` when nothing changed).
    /// - Throws: ``RequestLedgerError/refused(id:from:to:reason:)`` for an illegal move.
    @discardableResult
    public func transition(_ id: String, to status: RequestStatus, reason: String? = nil) async throws(RequestLedgerError)
        -> RequestStatus
    {
        try await transition(id, to: status, update: RequestUpdate(reason: reason))
    }

    /// Moves request `id` to `status`, if that move is legal, and applies what
    /// `update` carries (progress, a download record, an import attempt) in
    /// the same transaction: also when the request already has `status`,
    /// never when the move is refused.
    @discardableResult
    public func transition(_ id: String, to status: RequestStatus, update: RequestUpdate) async throws(RequestLedgerError)
        -> RequestStatus
    {
        let outcome = await client.transactionResult { transaction throws(PostgresError) -> Result<RequestStatus, RequestLedgerError> in
            try Self.transition(id, to: status, update: update, in: transaction)
        }
        switch outcome {
        case .success(.success(let previous)): return previous
        case .success(.failure(let error)): throw error
        case .failure(let error): throw .database(error.description)
        }
    }

    /// The move, inside a transaction: for the ledger and for code that moves
    /// a request together with other writes.
    static func transition(
        _ id: String, to status: RequestStatus, update: RequestUpdate, in transaction: PostgresTransaction
    ) throws(PostgresError) -> Result<RequestStatus, RequestLedgerError> {
        let rows = try transaction.execute("SELECT status FROM requests WHERE id = $1 FOR UPDATE", [id])
        guard rows.count == 1, let raw = rows[0, "status"], let current = RequestStatus(rawValue: raw) else {
            return .failure(.notFound(id))
        }
        switch RequestTransitions.verdict(from: current, to: status) {
        case .unchanged:
            break
        case .refused(let why):
            return .failure(.refused(id: id, from: current, to: status, reason: why))
        case .move:
            let resetsCounters = status == .available
            try transaction.execute(
                """
                UPDATE requests SET status = $2, status_reason = $3, updated_at = now(),
                    search_attempts = CASE WHEN $4 THEN 0 WHEN $2 = 'searching' THEN search_attempts + 1
                        ELSE search_attempts END,
                    last_search_at = CASE WHEN $2 = 'searching' THEN now() ELSE last_search_at END,
                    import_attempts = CASE WHEN $4 THEN 0 ELSE import_attempts END,
                    progress = CASE WHEN $2 IN ('downloaded', 'available') THEN 100 ELSE progress END
                WHERE id = $1
                """, [id, status.rawValue, update.reason, resetsCounters ? "true" : "false"])
        }
        try apply(update, to: id, status: status, in: transaction)
        return .success(current)
    }

    /// Writes the parts of `update` beyond the move itself.
    private static func apply(_ update: RequestUpdate, to id: String, status: RequestStatus, in transaction: PostgresTransaction)
        throws(PostgresError)
    {
        if let progress = update.progress, status != .downloaded, status != .available {
            try transaction.execute(
                "UPDATE requests SET progress = $2, updated_at = now() WHERE id = $1 AND progress IS DISTINCT FROM $2::double precision",
                [id, String(progress)])
        }
        if update.countsImportAttempt {
            let rows = try transaction.execute(
                """
                UPDATE requests SET import_attempts = import_attempts + 1, last_import_at = now(), updated_at = now()
                WHERE id = $1 RETURNING import_attempts
                """, [id])
            // Out of automatic retries: rest at `warn`, for a person to look at.
            if status == .awaitingImport, let max = update.maxImportAttempts,
                let count = rows[0, "import_attempts"].flatMap(Int.init), count >= max
            {
                try transaction.execute(
                    "UPDATE requests SET status = 'warn', status_reason = $2 WHERE id = $1",
                    [id, (update.reason.map { $0 + "; " } ?? "") + "gave up after \(count) import attempts: retry it by hand"])
            }
        }
        if let download = update.download {
            // One row per (request, client, client id); later reports fill in
            // what they know and leave the rest as it was.
            try transaction.execute(
                """
                INSERT INTO download_history
                    (request_id, client, client_id, release_title, size_bytes, source_url, status, save_path, error,
                     client_instance, indexer, completed_at)
                VALUES ($1, $2, $3, COALESCE($4, ''), $5::bigint, $6, $7, $8, $9, $10, $11,
                        CASE WHEN $7 = 'completed' THEN now() END)
                ON CONFLICT (request_id, client, client_id) DO UPDATE SET
                    release_title = CASE WHEN $4 IS NULL THEN download_history.release_title ELSE EXCLUDED.release_title END,
                    size_bytes = COALESCE(EXCLUDED.size_bytes, download_history.size_bytes),
                    source_url = COALESCE(EXCLUDED.source_url, download_history.source_url),
                    status = EXCLUDED.status,
                    save_path = COALESCE(EXCLUDED.save_path, download_history.save_path),
                    error = EXCLUDED.error,
                    client_instance = COALESCE(EXCLUDED.client_instance, download_history.client_instance),
                    indexer = COALESCE(EXCLUDED.indexer, download_history.indexer),
                    completed_at = CASE WHEN EXCLUDED.status = 'completed'
                        THEN COALESCE(download_history.completed_at, now()) ELSE download_history.completed_at END,
                    updated_at = now()
                """,
                [
                    id, download.client, download.clientID, download.releaseTitle, download.sizeBytes.map(String.init),
                    download.sourceURL, download.status, download.savePath, download.error, download.clientInstance,
                    download.indexer,
                ])
        }
        if let entry = update.blocklist {
            // One row per release and request: blocklisted again, it keeps the newest reason.
            try transaction.execute(
                """
                INSERT INTO release_blocklist (request_id, release_title, release_id, indexer, protocol, reason)
                VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT (request_id, lower(release_title), COALESCE(release_id, ''))
                DO UPDATE SET reason = EXCLUDED.reason, created_at = now()
                """, [id, entry.releaseTitle, entry.releaseID, entry.indexer, entry.protocol, entry.reason])
        }
    }

    /// Whether moving request `id` through `path`, one move after another,
    /// would be legal now (for the plugin service's check at once; the moves
    /// themselves happen with the job's outcome). The verdict is the last
    /// move's, or the first refusal.
    func wouldAccept(_ id: String, path: [RequestStatus]) throws(PostgresError) -> RequestTransitions.Verdict {
        let rows = try client.querySync("SELECT status FROM requests WHERE id = $1", [id])
        guard rows.count == 1, let raw = rows[0, "status"], var current = RequestStatus(rawValue: raw) else {
            return .refused("no request \(id)")
        }
        var verdict = RequestTransitions.Verdict.unchanged
        for status in path {
            verdict = RequestTransitions.verdict(from: current, to: status)
            if case .refused = verdict { return verdict }
            current = status
        }
        return verdict
    }

    static let columns = "id, title, author, asin, status, status_reason, progress, created_at, updated_at"

    static func record(_ rows: PostgresRows, _ index: Int) throws(RequestLedgerError) -> RequestRecord {
        guard let raw = rows[index, "status"], let status = RequestStatus(rawValue: raw) else {
            throw .database("request row with an unknown status")
        }
        return RequestRecord(
            id: rows[index, "id"] ?? "", title: rows[index, "title"] ?? "", author: rows[index, "author"] ?? "",
            asin: rows[index, "asin"], status: status, statusReason: rows[index, "status_reason"],
            progress: rows[index, "progress"].flatMap(Double.init) ?? 0, createdAt: rows[index, "created_at"] ?? "",
            updatedAt: rows[index, "updated_at"] ?? "")
    }
}

extension PostgresClient {
    /// Runs `body` in a transaction and returns its value; a body that
    /// returns a failure still commits (it wrote nothing), a thrown error
    /// rolls back.
    func transactionResult<T: Sendable>(_ body: @escaping @Sendable (PostgresTransaction) throws(PostgresError) -> T) async
        -> Result<T, PostgresError>
    {
        do {
            return .success(try await transaction(body))
        } catch {
            return .failure(error)
        }
    }
}
