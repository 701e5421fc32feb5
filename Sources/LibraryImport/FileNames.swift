import Foundation

/// Names that are safe to create in the library, whatever a torrent or an
/// indexer put in them.
///
/// A safe name is one path component: no separators (`/`, `\`), no NUL or
/// other control characters, no bidirectional overrides or zero-width
/// characters that make a name look like another, not `.` or `..`, no
/// leading or trailing dots or spaces, none of `: * ? " < > |` (so the
/// library also works over SMB), Unicode in NFC (one spelling for names that
/// look the same), and at most 255 bytes of UTF-8 (ext4's limit), cut on a
/// character boundary with the extension kept.
public enum FileNames {
    /// The longest name, in UTF-8 bytes, most Linux file systems take.
    public static let maxBytes = 255

    /// `text` made into one safe path component; `fallback` when nothing is left.
    public static func component(_ text: String, fallback: String = "_", keepingExtension: Bool = false) -> String {
        var cleaned = ""
        for scalar in text.precomposedStringWithCanonicalMapping.unicodeScalars {
            if unsafeScalars.contains(scalar.value) || scalar.properties.generalCategory == .control
                || scalar.properties.generalCategory == .format
            {
                continue
            }
            if replacedScalars.contains(scalar) {
                cleaned.append(" ")
            } else {
                cleaned.unicodeScalars.append(scalar)
            }
        }
        let collapsed = cleaned.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        let trimmed = collapsed.trimmingCharacters(in: CharacterSet(charactersIn: ". "))
        let name = trimmed.isEmpty ? fallback : trimmed
        return truncated(name, keepingExtension: keepingExtension)
    }

    /// `name` cut to ``maxBytes`` of UTF-8 on a character boundary; with
    /// `keepingExtension`, the cut falls before the extension.
    public static func truncated(_ name: String, keepingExtension: Bool) -> String {
        guard name.utf8.count > maxBytes else { return name }
        var stem = name
        var suffix = ""
        if keepingExtension, let dot = name.lastIndex(of: "."), name.distance(from: dot, to: name.endIndex) <= 10 {
            stem = String(name[..<dot])
            suffix = String(name[dot...])
        }
        let budget = maxBytes - suffix.utf8.count
        var kept = ""
        var used = 0
        for character in stem {
            let size = String(character).utf8.count
            if used + size > budget { break }
            kept.append(character)
            used += size
        }
        return kept.trimmingCharacters(in: CharacterSet(charactersIn: ". ")) + suffix
    }

    /// The lower-cased extension of `name`, without the dot ("" for none).
    public static func pathExtension(_ name: String) -> String {
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return "" }
        return String(name[name.index(after: dot)...]).lowercased()
    }

    /// Bidirectional overrides and isolates, zero-width characters, the BOM.
    private static let unsafeScalars: Set<UInt32> = [
        0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069,
        0xFEFF,
    ]
    private static let replacedScalars = CharacterSet(charactersIn: "/\\:*?\"<>|")
}
