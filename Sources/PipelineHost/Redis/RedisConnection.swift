import CHiredis
import Foundation

/// One hiredis connection. Every call blocks, so use it only from a
/// ``BlockingExecutor`` thread, and from one thread at a time.
final class RedisConnection {
    let url: RedisURL
    private var context: UnsafeMutablePointer<redisContext>?

    /// Connects, authenticates, selects the database and names the client.
    ///
    /// - Parameters:
    ///   - readTimeout: how long a reply may take; `nil` waits for ever (for
    ///     blocking commands, give more than their own timeout).
    init(url: RedisURL, name: String?, connectTimeout: Duration = .seconds(5), readTimeout: Duration? = .seconds(10))
        throws(RedisError)
    {
        self.url = url
        guard let context = redisConnectWithTimeout(url.host, Int32(url.port), Self.timeval(connectTimeout)) else {
            throw .connection("out of memory")
        }
        self.context = context
        if context.pointee.err != 0 {
            let reason = Self.errorString(context)
            redisFree(context)
            self.context = nil
            throw .connection("\(url.host):\(url.port): \(reason)")
        }
        if let readTimeout { redisSetTimeout(context, Self.timeval(readTimeout)) }
        _ = redisEnableKeepAlive(context)
        if let password = url.password {
            let auth = url.username.map { ["AUTH", $0, password] } ?? ["AUTH", password]
            if case .error(let message) = try send(auth) { throw .connection("AUTH refused: \(message)") }
        }
        if url.database != 0, case .error(let message) = try send(["SELECT", String(url.database)]) {
            throw .connection("SELECT \(url.database) refused: \(message)")
        }
        if let name { _ = try send(["CLIENT", "SETNAME", name]) }
    }

    deinit {
        if let context { redisFree(context) }
    }

    /// Whether an I/O error has made the connection unusable.
    var isBroken: Bool { context == nil || context!.pointee.err != 0 }

    /// Sends one command and waits for its reply. An error reply is returned,
    /// not thrown; a connection failure is thrown.
    func send(_ arguments: [String]) throws(RedisError) -> RedisValue {
        try pipeline([arguments])[0]
    }

    /// Sends several commands in one write and reads their replies.
    func pipeline(_ commands: [[String]]) throws(RedisError) -> [RedisValue] {
        guard let context, context.pointee.err == 0 else { throw .connection("the connection is closed") }
        for arguments in commands {
            let status = Self.withArgv(arguments) { count, argv, lengths in
                redisAppendCommandArgv(context, count, argv, lengths)
            }
            guard status == REDIS_OK else { throw .connection(Self.errorString(context)) }
        }
        var replies: [RedisValue] = []
        replies.reserveCapacity(commands.count)
        for _ in commands {
            var raw: UnsafeMutableRawPointer?
            guard redisGetReply(context, &raw) == REDIS_OK, let raw else {
                throw .connection(Self.errorString(context))
            }
            let reply = raw.assumingMemoryBound(to: redisReply.self)
            replies.append(Self.value(of: reply))
            freeReplyObject(raw)
        }
        return replies
    }

    // MARK: - Helpers

    private static func value(of reply: UnsafeMutablePointer<redisReply>) -> RedisValue {
        let reply = reply.pointee
        switch reply.type {
        case REDIS_REPLY_STRING:
            return .string(text(reply.str, reply.len))
        case REDIS_REPLY_STATUS:
            return .status(text(reply.str, reply.len))
        case REDIS_REPLY_ERROR:
            return .error(text(reply.str, reply.len))
        case REDIS_REPLY_INTEGER:
            return .integer(Int64(reply.integer))
        case REDIS_REPLY_ARRAY:
            var items: [RedisValue] = []
            items.reserveCapacity(reply.elements)
            for index in 0..<reply.elements {
                if let element = reply.element[index] { items.append(value(of: element)) }
            }
            return .array(items)
        default:
            return .null
        }
    }

    private static func text(_ pointer: UnsafeMutablePointer<CChar>?, _ length: Int) -> String {
        guard let pointer else { return "" }
        return pointer.withMemoryRebound(to: UInt8.self, capacity: length) {
            String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
        }
    }

    private static func withArgv<R>(
        _ arguments: [String], _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> R
    ) -> R {
        let buffers = arguments.map { Array($0.utf8) }
        let lengths = buffers.map(\.count)
        let argv = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: max(1, buffers.count))
        defer { argv.deallocate() }
        var storage: [UnsafeMutablePointer<CChar>] = []
        storage.reserveCapacity(buffers.count)
        defer { storage.forEach { $0.deallocate() } }
        for (index, bytes) in buffers.enumerated() {
            let copy = UnsafeMutablePointer<CChar>.allocate(capacity: max(1, bytes.count))
            if !bytes.isEmpty {
                bytes.withUnsafeBufferPointer { source in
                    source.withMemoryRebound(to: CChar.self) { copy.update(from: $0.baseAddress!, count: bytes.count) }
                }
            }
            storage.append(copy)
            argv[index] = UnsafePointer(copy)
        }
        return lengths.withUnsafeBufferPointer { body(Int32(buffers.count), argv, $0.baseAddress!) }
    }

    private static func errorString(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            let end = bytes.firstIndex(of: 0) ?? bytes.count
            return String(decoding: bytes[..<end], as: UTF8.self)
        }
    }

    private static func timeval(_ duration: Duration) -> Glibc.timeval {
        let (seconds, attoseconds) = duration.components
        return Glibc.timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }
}
