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
}
