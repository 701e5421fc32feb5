import Foundation

/// Durations as pipeline.yaml writes them: a number and a unit, possibly
/// several in a row: `500ms`, `2s`, `5m`, `1h30m`, `7d`.
public enum DurationSyntax {
    /// The units, longest name first so that `ms` is not read as `m`.
    static let units: [(name: String, milliseconds: Double)] = [
        ("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000),
    ]

    /// Parses `text`, or says what is wrong with it.
    public static func parse(_ text: String) -> Result<Duration, DurationSyntaxError> {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { return .failure(DurationSyntaxError(text: text, reason: "it is empty")) }
        if Double(trimmed) != nil {
            return .failure(
                DurationSyntaxError(text: text, reason: "it has no unit; write e.g. \(trimmed)s or \(trimmed)ms"))
        }
        var rest = Substring(trimmed)
        var total = 0.0
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard let value = Double(number), !number.isEmpty else {
                return .failure(DurationSyntaxError(text: text, reason: "expected a number at '\(rest)'"))
            }
            rest = rest.dropFirst(number.count)
            guard let unit = units.first(where: { rest.hasPrefix($0.name) }) else {
                return .failure(
                    DurationSyntaxError(text: text, reason: "unknown unit at '\(rest.isEmpty ? "(none)" : String(rest))'"))
            }
            rest = rest.dropFirst(unit.name.count)
            total += value * unit.milliseconds
        }
        guard total <= 366 * 86_400_000 else {
            return .failure(DurationSyntaxError(text: text, reason: "it is longer than a year"))
        }
        return .success(.milliseconds(Int64(total.rounded())))
    }

    /// `duration` written the way pipeline.yaml writes it: `2s`, `1h30m`, `250ms`.
    public static func format(_ duration: Duration) -> String {
        var remaining = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        if remaining == 0 { return "0s" }
        var parts: [String] = []
        for (name, milliseconds) in units.reversed() {
            let size = Int64(milliseconds)
            if remaining >= size {
                parts.append("\(remaining / size)\(name)")
                remaining %= size
            }
        }
        return parts.joined()
    }
}

/// Why a duration could not be read.
public struct DurationSyntaxError: Error, Sendable, CustomStringConvertible {
    public var text: String
    public var reason: String

    public var description: String {
        "bad duration '\(text)': \(reason) (units: ms, s, m, h, d, as in 500ms, 2s, 5m, 1h30m)"
    }
}
