/// One reply from Redis.
public enum RedisValue: Sendable, Hashable {
    case string(String)
    case integer(Int64)
    case array([RedisValue])
    case null
    case status(String)
    case error(String)

    /// The text of a bulk string or status, or the decimal of an integer.
    public var text: String? {
        switch self {
        case .string(let value), .status(let value): return value
        case .integer(let value): return String(value)
        default: return nil
        }
    }

    /// An integer, or a string that holds one.
    public var int: Int64? {
        switch self {
        case .integer(let value): return value
        case .string(let value): return Int64(value)
        default: return nil
        }
    }

    public var elements: [RedisValue] {
        if case .array(let items) = self { return items }
        return []
    }

    /// A flat `[field, value, field, value…]` reply (HGETALL) as a dictionary.
    public var fieldMap: [String: String] {
        var map: [String: String] = [:]
        let items = elements
        var index = 0
        while index + 1 < items.count {
            if let key = items[index].text, let value = items[index + 1].text { map[key] = value }
            index += 2
        }
        return map
    }
}
