/// Replaces `${VAR}` and `${VAR:-default}` in configuration values with the
/// environment's values. `$$` stands for a literal `$`.
public struct EnvironmentSubstitution: Sendable {
    /// A problem in one value, with its offset in characters from the value's start.
    public struct Problem: Error, Sendable, Equatable {
        public var offset: Int
        public var message: String

        public init(offset: Int, message: String) {
            self.offset = offset
            self.message = message
        }
    }

    public var environment: [String: String]

    public init(environment: [String: String]) {
        self.environment = environment
    }

    /// `text` with every reference replaced.
    ///
    /// - Throws: ``Problem`` for an unset variable without a default, or a
    ///   reference that is not closed or has a bad name.
    public func apply(to text: String) throws(Problem) -> String {
        guard text.contains("$") else { return text }
        var output = ""
        let characters = Array(text)
        var index = 0
        while index < characters.count {
            let character = characters[index]
            guard character == "$", index + 1 < characters.count else {
                output.append(character)
                index += 1
                continue
            }
            if characters[index + 1] == "$" {
                output.append("$")
                index += 2
                continue
            }
            guard characters[index + 1] == "{" else {
                output.append(character)
                index += 1
                continue
            }
            guard let close = characters[(index + 2)...].firstIndex(of: "}") else {
                throw Problem(offset: index, message: "'${' is not closed; write ${NAME} or ${NAME:-default} (or $$ for a '$')")
            }
            let body = String(characters[(index + 2)..<close])
            let name: String
            let fallback: String?
            if let separator = body.range(of: ":-") {
                name = String(body[..<separator.lowerBound])
                fallback = String(body[separator.upperBound...])
            } else {
                name = body
                fallback = nil
            }
            guard Self.isValidName(name) else {
                throw Problem(
                    offset: index,
                    message: "'${\(body)}' is not a variable reference: a name is letters, digits and '_', "
                        + "not starting with a digit")
            }
            if let value = environment[name], !(value.isEmpty && fallback != nil) {
                output += value
            } else if let fallback {
                output += fallback
            } else {
                throw Problem(
                    offset: index,
                    message: "environment variable \(name) is not set and has no default; set it, or write "
                        + "${\(name):-value}")
            }
            index = close + 1
        }
        return output
    }

    static func isValidName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic)
        else { return false }
        return name.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && $0.properties.isAlphabetic) || ("0"..."9").contains($0) }
    }
}
