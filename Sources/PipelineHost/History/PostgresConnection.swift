import CLibPQ
import Foundation

/// A failure talking to PostgreSQL.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    /// The SQLSTATE code, when the server gave one.
    public var sqlState: String?
    public var message: String
    /// Whether the connection itself failed (worth retrying once the server is back).
    public var isConnectionFailure: Bool

    public var description: String {
        "PostgreSQL: \(message)" + (sqlState.map { " (SQLSTATE \($0))" } ?? "")
    }
}

/// The rows a query returned: column names and text values (NULL is nil).
public struct PostgresRows: Sendable {
    public var columns: [String]
    public var rows: [[String?]]

    /// The value of `column` in row `index`.
    public subscript(_ index: Int, _ column: String) -> String? {
        guard let position = columns.firstIndex(of: column) else { return nil }
        return rows[index][position]
    }

    public var count: Int { rows.count }
}

/// One libpq connection. Every call blocks: use it only from a
/// ``BlockingExecutor`` thread, and from one thread at a time.
final class PostgresConnection {
    private var connection: OpaquePointer?

    /// Connects with `url` (postgres://…; libpq reads it as is) and sets the
    /// search path to `schema`.
    init(url: String, schema: String, connectTimeoutSeconds: Int = 5) throws(PostgresError) {
        let separator = url.contains("?") ? "&" : "?"
        let target = url + "\(separator)connect_timeout=\(connectTimeoutSeconds)&application_name=pipeline-host"
        connection = PQconnectdb(target)
        guard let connection, PQstatus(connection) == CONNECTION_OK else {
            let message = connection.map { String(cString: PQerrorMessage($0)) } ?? "out of memory"
            if let connection { PQfinish(connection) }
            self.connection = nil
            throw PostgresError(
                sqlState: nil, message: Self.redacting(message.trimmingCharacters(in: .whitespacesAndNewlines), url),
                isConnectionFailure: true)
        }
        // Server notices ("schema already exists, skipping") are not errors; keep them off stderr.
        PQsetNoticeProcessor(connection, { _, _ in }, nil)
        _ = try execute("SET search_path TO \(Self.quoted(schema))", [])
    }

    deinit {
        if let connection { PQfinish(connection) }
    }

    var isBroken: Bool { connection == nil || PQstatus(connection) != CONNECTION_OK }

    /// Runs `sql` with `$1…$n` bound to `parameters` (never interpolated).
    @discardableResult
    func execute(_ sql: String, _ parameters: [String?]) throws(PostgresError) -> PostgresRows {
        guard let connection, PQstatus(connection) == CONNECTION_OK else {
            throw PostgresError(sqlState: nil, message: "the connection is closed", isConnectionFailure: true)
        }
        // PostgreSQL text cannot hold NUL, and a C string would end there: drop it.
        let copies = parameters.map { $0.map { strdup($0.contains("\0") ? $0.replacingOccurrences(of: "\0", with: "") : $0) } ?? nil }
        defer { copies.forEach { free($0) } }
        let values = copies.map { UnsafePointer<CChar>($0) }
        guard let result = values.withUnsafeBufferPointer({ buffer in
            PQexecParams(connection, sql, Int32(parameters.count), nil, buffer.baseAddress, nil, nil, 0)
        }) else {
            throw PostgresError(sqlState: nil, message: String(cString: PQerrorMessage(connection)), isConnectionFailure: true)
        }
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK else {
            let message = String(cString: PQresultErrorMessage(result)).trimmingCharacters(in: .whitespacesAndNewlines)
            let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
            throw PostgresError(sqlState: state, message: message, isConnectionFailure: PQstatus(connection) != CONNECTION_OK)
        }
        let fields = Int(PQnfields(result))
        let tuples = Int(PQntuples(result))
        let columns = (0..<fields).map { String(cString: PQfname(result, Int32($0))) }
        var rows: [[String?]] = []
        rows.reserveCapacity(tuples)
        for row in 0..<tuples {
            rows.append((0..<fields).map { column in
                PQgetisnull(result, Int32(row), Int32(column)) == 1
                    ? nil : String(cString: PQgetvalue(result, Int32(row), Int32(column)))
            })
        }
        return PostgresRows(columns: columns, rows: rows)
    }

    /// A double-quoted SQL identifier.
    static func quoted(_ identifier: String) -> String {
        "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// `message` with the URL's password, if it appears, hidden.
    static func redacting(_ message: String, _ url: String) -> String {
        guard let password = URLComponents(string: url)?.password, !password.isEmpty else { return message }
        return message.replacingOccurrences(of: password, with: "***")
    }
}
