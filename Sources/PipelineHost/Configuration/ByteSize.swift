import Foundation

/// Sizes as pipeline.yaml writes them: a whole number and a unit, `512MB`,
/// `1GiB`, `64KiB`, or a plain number of bytes. KB, MB, GB are powers of
/// 1000; KiB, MiB, GiB powers of 1024.
public enum ByteSize {
    static let units: [(name: String, bytes: Int64)] = [
        ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("TiB", 1 << 40),
        ("KB", 1_000), ("MB", 1_000_000), ("GB", 1_000_000_000), ("TB", 1_000_000_000_000), ("B", 1),
    ]

    /// Parses `text`, or says what is wrong with it.
    public static func parse(_ text: String) -> Result<Int64, ByteSizeError> {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let digits = trimmed.prefix { $0.isASCII && $0.isNumber }
        let unit = trimmed.dropFirst(digits.count).trimmingCharacters(in: .whitespaces)
        guard !digits.isEmpty, let number = Int64(digits) else {
            return .failure(ByteSizeError(text: text, reason: "it does not start with a whole number"))
        }
        let factor: Int64
        if unit.isEmpty {
            factor = 1
        } else if let match = units.first(where: { $0.name.lowercased() == unit.lowercased() }) {
            factor = match.bytes
        } else {
            return .failure(ByteSizeError(text: text, reason: "unknown unit '\(unit)'"))
        }
        let (bytes, overflow) = number.multipliedReportingOverflow(by: factor)
        guard !overflow, bytes <= 1 << 50 else { return .failure(ByteSizeError(text: text, reason: "it is too large")) }
        return .success(bytes)
    }
}

extension ByteSize {
    /// `bytes` as pipeline.yaml would write it: `512MB`, `1GiB`, `64MiB`;
    /// in the unit that divides it into the smallest whole number.
    public static func describe(_ bytes: Int64) -> String {
        let fitting = units.filter { $0.bytes > 1 && bytes >= $0.bytes && bytes % $0.bytes == 0 }
        guard let best = fitting.min(by: { bytes / $0.bytes < bytes / $1.bytes }) else { return "\(bytes)B" }
        return "\(bytes / best.bytes)\(best.name)"
    }
}

/// Why a size could not be read.
public struct ByteSizeError: Error, Sendable, CustomStringConvertible {
    public var text: String
    public var reason: String

    public var description: String { "bad size '\(text)': \(reason) (write e.g. 512MB, 1GiB)" }
}
