import Foundation
import Logging
import Synchronization

/// A small pool of hiredis connections behind an async API. Calls run on a
/// ``BlockingExecutor``; a broken connection is dropped and replaced, and
/// ``withReconnect(_:)`` retries an operation until Redis answers again.
public final class RedisClient: Sendable {
    public let url: RedisURL
    let executor: BlockingExecutor
    private let name: String?
    private let idle = Mutex<[RedisConnectionBox]>([])
    private let maxIdle: Int
    private let logger: Logger
    /// Whether the last call found Redis, for `/healthz`.
    public let reachability = Reachability()

    /// - Parameters:
    ///   - name: the CLIENT SETNAME of its connections.
    ///   - executor: where the blocking calls run; it needs a thread per
    ///     concurrent call.
    public init(url: RedisURL, name: String? = nil, executor: BlockingExecutor, maxIdleConnections: Int = 8, logger: Logger) {
        self.url = url
        self.name = name
        self.executor = executor
        maxIdle = maxIdleConnections
        self.logger = logger
    }

    /// Sends one command.
    public func send(_ arguments: [String]) async throws(RedisError) -> RedisValue {
        try await pipeline([arguments])[0]
    }

    /// Sends several commands in one round trip, on one connection.
    public func pipeline(_ commands: [[String]]) async throws(RedisError) -> [RedisValue] {
        try await withConnection { connection throws(RedisError) in try connection.pipeline(commands) }
    }

    /// Runs `script` with `keys` and `arguments`, loading it first if Redis
    /// does not know it.
    public func run(_ script: RedisScript, keys: [String], arguments: [String]) async throws(RedisError) -> RedisValue {
        try await withConnection { connection throws(RedisError) in
            try Self.run(script, keys: keys, arguments: arguments, on: connection)
        }
    }

    /// Runs several script calls in one round trip; any error reply is thrown.
    public func runPipelined(_ calls: [(RedisScript, keys: [String], arguments: [String])]) async throws(RedisError)
        -> [RedisValue]
    {
        try await withConnection { connection throws(RedisError) in
            let commands = calls.map { ["EVALSHA", $0.0.sha1, String($0.keys.count)] + $0.keys + $0.arguments }
            var replies = try connection.pipeline(commands)
            if replies.contains(where: { if case .error(let m) = $0 { m.hasPrefix("NOSCRIPT") } else { false } }) {
                for script in Set(calls.map(\.0.name)) {
                    let source = calls.first { $0.0.name == script }!.0.source
                    _ = try connection.send(["SCRIPT", "LOAD", source])
                }
                replies = try connection.pipeline(commands)
            }
            if let failure = replies.first(where: { if case .error = $0 { true } else { false } }), case .error(let m) = failure {
                throw .reply(m)
            }
            return replies
        }
    }

    static func run(_ script: RedisScript, keys: [String], arguments: [String], on connection: RedisConnection)
        throws(RedisError) -> RedisValue
    {
        let command = ["EVALSHA", script.sha1, String(keys.count)] + keys + arguments
        var reply = try connection.send(command)
        if case .error(let message) = reply, message.hasPrefix("NOSCRIPT") {
            _ = try connection.send(["SCRIPT", "LOAD", script.source])
            reply = try connection.send(command)
        }
        if case .error(let message) = reply { throw .reply("\(script.name): \(message)") }
        return reply
    }

    /// Runs `body` with a pooled connection on an executor thread.
    func withConnection<T: Sendable>(_ body: @escaping @Sendable (RedisConnection) throws(RedisError) -> T)
        async throws(RedisError) -> T
    {
        let pooled = idle.withLock { $0.popLast() }
        let url = url
        let name = name
        let result = await executor.run { () -> Result<(T, RedisConnectionBox), RedisError> in
            do throws(RedisError) {
                let box: RedisConnectionBox
                if let pooled {
                    box = pooled
                } else {
                    box = RedisConnectionBox(try RedisConnection(url: url, name: name))
                }
                return .success((try body(box.connection), box))
            } catch {
                return .failure(error)
            }
        }
        switch result {
        case .success((let value, let box)):
            reachability.succeeded()
            if !box.connection.isBroken {
                idle.withLock { if $0.count < maxIdle { $0.append(box) } }
            }
            return value
        case .failure(let error):
            note(error)
            throw error
        case nil:
            throw .connection("the host is shutting down")
        }
    }

    /// Records what a call on a connection of its own found (a reply is an answer).
    func note(_ error: RedisError?) {
        guard let error else { return reachability.succeeded() }
        if error.isConnectionFailure { reachability.failed(error.description) } else { reachability.succeeded() }
    }

    /// Runs `operation` until it does not fail for want of a connection,
    /// waiting 100 ms, then twice as long each time up to 5 s, between tries.
    /// Gives up only when `shouldGiveUp` says so (a stopping host).
    public func withReconnect<T: Sendable>(
        _ what: String, shouldGiveUp: @Sendable () -> Bool = { false },
        _ operation: @Sendable () async throws(RedisError) -> T
    ) async throws(RedisError) -> T {
        var delay = Duration.milliseconds(100)
        var failures = 0
        while true {
            do throws(RedisError) {
                let value = try await operation()
                if failures > 0 { logger.notice("Redis is back", metadata: ["operation": "\(what)", "after_failures": "\(failures)"]) }
                return value
            } catch where error.isTransient && !shouldGiveUp() {
                failures += 1
                if failures == 1 || failures % 20 == 0 {
                    logger.warning(
                        "Redis unreachable; retrying", metadata: ["operation": "\(what)", "error": "\(error)", "url": "\(url)"])
                }
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
    }

    /// Opens a connection of its own (for a blocking command such as
    /// BZPOPMIN), with a read timeout longer than the command's.
    func dedicatedConnection(readTimeout: Duration?) async throws(RedisError) -> RedisConnectionBox {
        let url = url
        let name = name
        let result = await executor.run { () -> Result<RedisConnectionBox, RedisError> in
            do throws(RedisError) {
                return .success(RedisConnectionBox(try RedisConnection(url: url, name: name, readTimeout: readTimeout)))
            } catch {
                return .failure(error)
            }
        }
        switch result {
        case .success(let box): return box
        case .failure(let error): throw error
        case nil: throw .connection("the host is shutting down")
        }
    }
}

/// Hands a connection between tasks and executor threads; only one uses it at a time.
final class RedisConnectionBox: @unchecked Sendable {
    let connection: RedisConnection

    init(_ connection: RedisConnection) {
        self.connection = connection
    }
}
