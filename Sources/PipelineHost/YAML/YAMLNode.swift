/// A YAML node with where it came from. Aliases are already resolved (the
/// node they name is shared, not copied).
public struct YAMLNode: Sendable {
    /// How a scalar was written: a plain scalar is typed by its text (a number,
    /// `true`, `null`); a quoted or block scalar is always a string.
    public enum ScalarStyle: Sendable {
        case plain
        case quoted
    }

    public enum Kind: Sendable {
        case scalar(String, ScalarStyle)
        case sequence([YAMLNode])
        case mapping([(key: YAMLNode, value: YAMLNode)])
    }

    public var kind: Kind
    public var location: SourceLocation

    public init(_ kind: Kind, at location: SourceLocation) {
        self.kind = kind
        self.location = location
    }

    /// The scalar's text, for a scalar.
    public var scalar: String? {
        if case .scalar(let text, _) = kind { return text }
        return nil
    }

    /// A plain scalar that YAML reads as null: empty, `~` or `null`.
    public var isNull: Bool {
        if case .scalar(let text, .plain) = kind { return ["", "~", "null", "Null", "NULL"].contains(text) }
        return false
    }

    /// What the node is, for messages: "a mapping", "a list", "the string 'x'".
    public var summary: String {
        switch kind {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .scalar(let text, let style):
            if isNull { return "nothing (null)" }
            let shown = text.count > 40 ? String(text.prefix(40)) + "…" : text
            if style == .plain, Int(text) != nil || Double(text) != nil { return "the number \(shown)" }
            if style == .plain, ["true", "false", "True", "False", "TRUE", "FALSE"].contains(text) {
                return "the boolean \(shown)"
            }
            return "the string '\(shown)'"
        }
    }
}
