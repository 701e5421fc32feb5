import Foundation
import Logging
import Synchronization

/// A small pool of libpq connections behind an async API, in one schema.
/// Calls run on a ``BlockingExecutor``; a broken connection is replaced.
public final class PostgresClient: Sendable {
    public let url: String
    /// The schema every table lives in (the connections' search path).
    public let schema: String
    let executor: BlockingExecutor
    private let idle = Mutex<[PostgresConnectionBox]>([])
    private let logger: Logger
    /// Whether the last call found PostgreSQL, for `/healthz`.
    public let reachability = Reachability()

    /// - Throws: ``PostgresError`` when `schema` is not a plain identifier.
    public init(url: String, schema: String, executor: BlockingExecutor, logger: Logger) throws(PostgresError) {
        guard Self.isPlainIdentifier(schema) else {
            throw PostgresError(
                sqlState: nil, message: "schema '\(schema)' must be lower-case letters, digits and '_'",
                isConnectionFailure: false)
        }
        self.url = url
        self.schema = schema
        self.executor = executor
        self.logger = logger
    }

    static func isPlainIdentifier(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || ("a"..."z").contains(first), name.count <= 63 else {
            return false
        }
        return name.unicodeScalars.allSatisfy { $0 == "_" || ("a"..."z").contains($0) || ("0"..."9").contains($0) }
    }

    /// Runs one statement with its parameters bound (never interpolated).
    @discardableResult
    public func query(_ sql: String, _ parameters: [String?] = []) async throws(PostgresError) -> PostgresRows {
        try await withConnection { connection throws(PostgresError) in try connection.execute(sql, parameters) }
    }

    /// Runs `body` inside one transaction on one connection, on an executor
    /// thread; rolls back if it throws.
    public func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresTransaction) throws(PostgresError) -> T)
        async throws(PostgresError) -> T
    {
        try await withConnection { connection throws(PostgresError) in
            try connection.execute("BEGIN", [])
            do throws(PostgresError) {
                let value = try body(PostgresTransaction(connection: connection))
                try connection.execute("COMMIT", [])
                return value
            } catch {
                _ = try? connection.execute("ROLLBACK", [])
                throw error
            }
        }
    }

    /// Runs one statement on the calling thread (which must be allowed to
    /// block: a worker thread, never the cooperative pool).
    func querySync(_ sql: String, _ parameters: [String?] = []) throws(PostgresError) -> PostgresRows {
        do {
            let box: PostgresConnectionBox
            if let pooled = idle.withLock({ $0.popLast() }), !pooled.connection.isBroken {
                box = pooled
            } else {
                box = PostgresConnectionBox(try PostgresConnection(url: url, schema: schema))
            }
            let rows = try box.connection.execute(sql, parameters)
            reachability.succeeded()
            if !box.connection.isBroken { idle.withLock { if $0.count < 8 { $0.append(box) } } }
            return rows
        } catch {
            note(error)
            throw error
        }
    }

    private func note(_ error: PostgresError) {
        if error.isConnectionFailure { reachability.failed(error.message) } else { reachability.succeeded() }
    }

    func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws(PostgresError) -> T)
        async throws(PostgresError) -> T
    {
        let pooled = idle.withLock { $0.popLast() }
        let url = url
        let schema = schema
        let result = await executor.run { () -> Result<(T, PostgresConnectionBox), PostgresError> in
            do throws(PostgresError) {
                let box: PostgresConnectionBox
                if let pooled, !pooled.connection.isBroken {
                    box = pooled
                } else {
                    box = PostgresConnectionBox(try PostgresConnection(url: url, schema: schema))
                }
                return .success((try body(box.connection), box))
            } catch {
                return .failure(error)
            }
        }
        switch result {
        case .success((let value, let box))?:
            reachability.succeeded()
            if !box.connection.isBroken { idle.withLock { if $0.count < 8 { $0.append(box) } } }
            return value
        case .failure(let error)?:
            note(error)
            throw error
        case nil:
            throw PostgresError(sqlState: nil, message: "the host is shutting down", isConnectionFailure: true)
        }
    }
}

/// The statements of one transaction, on its connection's thread.
public struct PostgresTransaction {
    let connection: PostgresConnection

    @discardableResult
    public func execute(_ sql: String, _ parameters: [String?] = []) throws(PostgresError) -> PostgresRows {
        try connection.execute(sql, parameters)
    }
}

final class PostgresConnectionBox: @unchecked Sendable {
    let connection: PostgresConnection

    init(_ connection: PostgresConnection) {
        self.connection = connection
    }
}
