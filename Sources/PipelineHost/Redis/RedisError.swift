/// A failure talking to Redis.
public enum RedisError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The URL cannot be used.
    case badURL(String, String)
    /// No connection, or it broke: worth retrying once Redis is back.
    case connection(String)
    /// Redis answered with an error.
    case reply(String)
    /// A reply of an unexpected shape.
    case protocolViolation(String)

    public var description: String {
        switch self {
        case .badURL(let url, let reason): return "bad Redis URL '\(url)': \(reason)"
        case .connection(let reason): return "Redis connection failed: \(reason)"
        case .reply(let message): return "Redis answered: \(message)"
        case .protocolViolation(let reason): return "unexpected Redis reply: \(reason)"
        }
    }

    /// Whether reconnecting may help.
    public var isConnectionFailure: Bool {
        if case .connection = self { return true }
        return false
    }

    /// Whether trying again later may help: a lost connection, or a reply
    /// that says Redis is busy for now (loading its data after a restart, a
    /// long script, out of memory, a failed snapshot, a read-only replica).
    public var isTransient: Bool {
        switch self {
        case .connection: return true
        case .reply(let message):
            let text = message.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? message
            return ["LOADING", "BUSY", "MISCONF", "OOM", "READONLY", "TRYAGAIN", "MASTERDOWN"].contains { text.hasPrefix($0) }
        default: return false
        }
    }
}
