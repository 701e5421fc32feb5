import Foundation

/// JSON Pointers (RFC 6901) over ``JSONValue``: what the host's `json_get`
/// and `json_set` services give C plugins, so that they read and write JSON
/// without a parser or hand-escaping of their own.
public enum JSONPointer {
    /// Why a pointer could not be followed or written.
    public enum Failure: Error, Equatable, CustomStringConvertible {
        /// Not "" and not starting with "/", or a bad "~" escape.
        case malformed(String)
        /// A token names a member or index the value does not have.
        case notFound(String)
        /// A token passes through a string, number, boolean or null.
        case notAContainer(String)

        public var description: String {
            switch self {
            case .malformed(let why), .notFound(let why), .notAContainer(let why): return why
            }
        }
    }

    /// The tokens of `pointer`, unescaped (`~1` is "/", `~0` is "~").
    public static func tokens(_ pointer: String) throws(Failure) -> [String] {
        if pointer.isEmpty { return [] }
        guard pointer.hasPrefix("/") else {
            throw .malformed("'\(pointer.prefix(80))' is not a JSON Pointer: write \"\" for the whole text or start with \"/\"")
        }
        var tokens: [String] = []
        for raw in pointer.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            var token = ""
            var iterator = raw.makeIterator()
            while let character = iterator.next() {
                guard character == "~" else {
                    token.append(character)
                    continue
                }
                switch iterator.next() {
                case "0": token.append("~")
                case "1": token.append("/")
                default: throw .malformed("'\(pointer.prefix(80))': \"~\" must be followed by 0 or 1")
                }
            }
            tokens.append(token)
        }
        return tokens
    }

    /// An array index token: digits without a leading zero.
    static func index(_ token: String) -> Int? {
        guard !token.isEmpty, token.allSatisfy(\.isASCII), token.allSatisfy(\.isNumber), token == "0" || !token.hasPrefix("0")
        else { return nil }
        return Int(token)
    }
}

extension JSONValue {
    /// The value at `pointer`, or nil when there is none.
    ///
    /// - Throws: ``JSONPointer/Failure/malformed(_:)`` for a pointer that is not one.
    public func value(atPointer pointer: String) throws(JSONPointer.Failure) -> JSONValue? {
        var current = self
        for token in try JSONPointer.tokens(pointer) {
            switch current {
            case .object(let members):
                guard let next = members[token] else { return nil }
                current = next
            case .array(let elements):
                guard let index = JSONPointer.index(token), index < elements.count else { return nil }
                current = elements[index]
            default:
                return nil
            }
        }
        return current
    }

    /// A copy with `value` at `pointer`. Missing members along the way are
    /// created as objects; "-" as an array's token appends.
    public func setting(_ value: JSONValue, atPointer pointer: String) throws(JSONPointer.Failure) -> JSONValue {
        try Self.set(value, in: self, tokens: JSONPointer.tokens(pointer)[...], pointer: pointer)
    }

    private static func set(
        _ value: JSONValue, in container: JSONValue, tokens: ArraySlice<String>, pointer: String
    ) throws(JSONPointer.Failure) -> JSONValue {
        guard let token = tokens.first else { return value }
        let rest = tokens.dropFirst()
        switch container {
        case .object(var members):
            members[token] = try set(value, in: members[token] ?? .object([:]), tokens: rest, pointer: pointer)
            return .object(members)
        case .array(var elements):
            if token == "-" {
                elements.append(try set(value, in: .object([:]), tokens: rest, pointer: pointer))
            } else if let index = JSONPointer.index(token), index < elements.count {
                elements[index] = try set(value, in: elements[index], tokens: rest, pointer: pointer)
            } else if let index = JSONPointer.index(token), index == elements.count {
                elements.append(try set(value, in: .object([:]), tokens: rest, pointer: pointer))
            } else {
                throw .notFound("'\(pointer.prefix(80))': the array has no element '\(token.prefix(40))' (it has \(elements.count))")
            }
            return .array(elements)
        default:
            throw .notAContainer("'\(pointer.prefix(80))' passes through a value that is neither an object nor an array")
        }
    }

    /// Parses a JSON text (any value, not only an object); nil when it is not JSON.
    public init?(jsonText: String) {
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(jsonText.utf8)) else { return nil }
        self = value
    }

    /// The value as compact JSON text, keys sorted.
    public var jsonText: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(self) else { return "null" }
        return String(decoding: data, as: UTF8.self)
    }
}
