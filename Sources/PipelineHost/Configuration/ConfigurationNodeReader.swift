import Foundation

/// Reads typed values out of ``YAMLNode``s, substituting `${VAR}`s in
/// scalars, and collects a ``Diagnostic`` for every problem instead of
/// stopping at the first.
final class ConfigurationNodeReader {
    let file: String
    let substitution: EnvironmentSubstitution
    private(set) var diagnostics: [Diagnostic] = []

    init(file: String, substitution: EnvironmentSubstitution) {
        self.file = file
        self.substitution = substitution
    }

    func error(at location: SourceLocation, _ message: String) {
        diagnostics.append(Diagnostic(file: file, location: location, message: message))
    }

    // MARK: Mappings

    /// The entries of `node` if it is a mapping whose keys are all in
    /// `allowed`; an unknown key is reported (with a suggestion) and skipped.
    func mapping(_ node: YAMLNode, _ what: String, allowed: [String]? = nil) -> [(name: String, key: YAMLNode, value: YAMLNode)]? {
        guard case .mapping(let entries) = node.kind else {
            if node.isNull { return [] }
            error(at: node.location, "\(what) must be a mapping, found \(node.summary)")
            return nil
        }
        var result: [(name: String, key: YAMLNode, value: YAMLNode)] = []
        for (key, value) in entries {
            let name = key.scalar ?? ""
            if let allowed, !allowed.contains(name) {
                error(at: key.location, "unknown key '\(name)' in \(what)\(Self.suggestion(for: name, among: allowed))")
                continue
            }
            result.append((name, key, value))
        }
        return result
    }

    /// ", did you mean 'x'?" for a near miss, else the list of allowed keys.
    static func suggestion(for name: String, among candidates: [String]) -> String {
        let scored = candidates.map { ($0, editDistance(name.lowercased(), $0.lowercased())) }
        if let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= max(2, name.count / 3) {
            return "; did you mean '\(best.0)'?"
        }
        return "; expected one of: \(candidates.joined(separator: ", "))"
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }

    // MARK: Scalars

    /// The scalar's text with `${VAR}`s substituted; `nil` (and a diagnostic)
    /// for a mapping, a list, or a bad reference.
    func text(_ node: YAMLNode, _ what: String) -> String? {
        guard case .scalar(let raw, let style) = node.kind else {
            error(at: node.location, "\(what) must be a single value, found \(node.summary)")
            return nil
        }
        do {
            return try substitution.apply(to: raw)
        } catch {
            let column = node.location.column + error.offset + (style == .quoted ? 1 : 0)
            let location = raw.contains("\n") ? node.location : SourceLocation(line: node.location.line, column: column)
            self.error(at: location, "\(what): \(error.message)")
            return nil
        }
    }

    /// A string value (numbers and booleans are taken as written).
    func string(_ node: YAMLNode, _ what: String, allowEmpty: Bool = true) -> String? {
        if node.isNull, case .scalar(let raw, _) = node.kind, !raw.isEmpty {
            error(at: node.location, "\(what) must be a string, found \(node.summary)")
            return nil
        }
        guard let value = text(node, what) else { return nil }
        if !allowEmpty, value.isEmpty {
            error(at: node.location, "\(what) must not be empty")
            return nil
        }
        return value
    }

    /// A whole number in `range`.
    func integer(_ node: YAMLNode, _ what: String, in range: ClosedRange<Int>) -> Int? {
        guard case .scalar(_, let style) = node.kind else {
            _ = text(node, what)
            return nil
        }
        guard let value = text(node, what) else { return nil }
        guard let number = Int(value.trimmingCharacters(in: .whitespaces)) else {
            error(at: node.location, "\(what) must be a whole number, found \(describe(value, style))")
            return nil
        }
        guard range.contains(number) else {
            let bound =
                range.upperBound == Int.max
                ? "at least \(range.lowerBound)" : "from \(range.lowerBound) to \(range.upperBound)"
            error(at: node.location, "\(what) must be \(bound), found \(number)")
            return nil
        }
        return number
    }

    /// A number in `range`.
    func number(_ node: YAMLNode, _ what: String, in range: ClosedRange<Double>) -> Double? {
        guard let value = text(node, what) else { return nil }
        guard let number = Double(value.trimmingCharacters(in: .whitespaces)), range.contains(number) else {
            error(at: node.location, "\(what) must be a number from \(range.lowerBound) to \(range.upperBound), found '\(value)'")
            return nil
        }
        return number
    }

    /// `true` or `false`.
    func boolean(_ node: YAMLNode, _ what: String) -> Bool? {
        guard let value = text(node, what) else { return nil }
        switch value {
        case "true", "True", "TRUE": return true
        case "false", "False", "FALSE": return false
        default:
            error(at: node.location, "\(what) must be true or false, found '\(value)'")
            return nil
        }
    }

    /// A duration such as `2s` or `1h30m`.
    func duration(_ node: YAMLNode, _ what: String) -> Duration? {
        guard let value = text(node, what) else { return nil }
        switch DurationSyntax.parse(value) {
        case .success(let duration): return duration
        case .failure(let failure):
            error(at: node.location, "\(what): \(failure)")
            return nil
        }
    }

    private func describe(_ value: String, _ style: YAMLNode.ScalarStyle) -> String {
        style == .quoted ? "the string '\(value)'" : "'\(value)'"
    }

    // MARK: JSON

    /// The node as JSON text, for plugin configs and payloads: plain scalars
    /// become numbers, booleans and nulls where they read as such.
    func json(_ node: YAMLNode, _ what: String) -> String? {
        guard let value = jsonObject(node, what) else { return nil }
        guard
            let data = try? JSONSerialization.data(
                withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed, .withoutEscapingSlashes])
        else {
            error(at: node.location, "\(what) cannot be written as JSON")
            return nil
        }
        return String(decoding: data, as: UTF8.self)
    }

    private func jsonObject(_ node: YAMLNode, _ what: String) -> Any? {
        switch node.kind {
        case .mapping(let entries):
            var object: [String: Any] = [:]
            for (key, value) in entries {
                guard let name = key.scalar, let member = jsonObject(value, "\(what).\(key.scalar ?? "?")") else {
                    continue
                }
                object[name] = member
            }
            return object
        case .sequence(let items):
            return items.compactMap { jsonObject($0, what) }
        case .scalar(let raw, let style):
            if node.isNull { return NSNull() }
            guard let value = text(node, what) else { return nil }
            guard style == .plain else { return value }
            if ["true", "True", "TRUE"].contains(value) { return true }
            if ["false", "False", "FALSE"].contains(value) { return false }
            // A number only when it reads back the same (no leading zeros,
            // nothing lost), and a fraction only when written in the file,
            // never from a substituted secret such as an API key.
            if let integer = Int(value), String(integer) == value { return integer }
            if raw == value, !raw.contains("$"), let double = Double(value), double.isFinite,
                value.contains(where: { $0 == "." || $0 == "e" || $0 == "E" })
            {
                return double
            }
            return value
        }
    }
}
