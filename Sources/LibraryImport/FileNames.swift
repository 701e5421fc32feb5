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
    ///
    /// The result is never hidden (a leading dot gets a `_` before it) and,
    /// unless `fallback` is empty, never empty, whatever normalisation and
    /// the cut to ``maxBytes`` did to it: a name of combining characters
    /// alone, or one whose single character is longer than the limit, still
    /// yields a visible name.
    public static func component(_ text: String, fallback: String = "_", keepingExtension: Bool = false) -> String {
        // The extension is cleaned on its own, so that a stem that cleans
        // away to nothing leaves `_.mp3`, never the hidden `.mp3`.
        if keepingExtension, let dot = text.lastIndex(of: "."), dot != text.startIndex {
            let ext = cleaned(String(text[text.index(after: dot)...]))
            if !ext.isEmpty, ext.count <= 10, !ext.contains(".") {
                let stem = cleaned(String(text[..<dot]))
                let name = (stem.isEmpty ? (fallback.isEmpty ? "_" : fallback) : stem) + "." + ext
                return visible(truncated(name, keepingExtension: true), keepingExtension: true)
            }
        }
        let trimmed = cleaned(text)
        let name = trimmed.isEmpty ? fallback : trimmed
        guard !name.isEmpty else { return "" }
        return visible(truncated(name, keepingExtension: keepingExtension), keepingExtension: keepingExtension)
    }

    /// `text` in NFC without unsafe characters, separators made spaces, runs
    /// of space made one, dots and spaces trimmed at both ends.
    static func cleaned(_ text: String) -> String {
        var cleaned = ""
        var pendingSpace = false
        for scalar in text.precomposedStringWithCanonicalMapping.unicodeScalars {
            let category = scalar.properties.generalCategory
            if unsafeScalars.contains(scalar.value) || category == .control || category == .format || category == .unassigned
                || category == .surrogate || category == .privateUse
            {
                continue
            }
            if replacedScalars.contains(scalar) || scalar.properties.isWhitespace || category == .lineSeparator
                || category == .paragraphSeparator || category == .spaceSeparator
            {
                pendingSpace = !cleaned.isEmpty
                continue
            }
            if pendingSpace {
                cleaned.unicodeScalars.append(" ")
                pendingSpace = false
            }
            cleaned.unicodeScalars.append(scalar)
        }
        return trimDotsAndSpaces(cleaned)
    }

    /// `name` with `_` before it when it would be hidden or is empty, cut
    /// again to ``maxBytes`` if that made it longer.
    static func visible(_ name: String, keepingExtension: Bool) -> String {
        guard name.isEmpty || name.hasPrefix(".") else { return name }
        let prefixed = "_" + name
        guard prefixed.utf8.count > maxBytes else { return prefixed }
        return "_" + truncated(name, keepingExtension: keepingExtension, budget: maxBytes - 1)
    }

    /// `name` cut to ``maxBytes`` of UTF-8 on a character boundary (on a
    /// scalar boundary when a single character is longer than that); with
    /// `keepingExtension`, the cut falls before the extension. The stem is
    /// never cut to nothing: `_` stands for it then.
    public static func truncated(_ name: String, keepingExtension: Bool, budget total: Int = maxBytes) -> String {
        guard name.utf8.count > total else { return name }
        var stem = name
        var suffix = ""
        if keepingExtension, let dot = name.lastIndex(of: "."), dot != name.startIndex,
            name.distance(from: dot, to: name.endIndex) <= 10, name[dot...].utf8.count < total / 2
        {
            stem = String(name[..<dot])
            suffix = String(name[dot...])
        }
        let budget = total - suffix.utf8.count
        var kept = ""
        var used = 0
        for character in stem {
            let size = character.utf8.count
            if used + size > budget {
                if kept.isEmpty {
                    // One character longer than the whole budget: cut inside it.
                    for scalar in character.unicodeScalars {
                        let scalarSize = String(scalar).utf8.count
                        if used + scalarSize > budget { break }
                        kept.unicodeScalars.append(scalar)
                        used += scalarSize
                    }
                }
                break
            }
            kept.append(character)
            used += size
        }
        let cut = trimDotsAndSpaces(kept)
        return (cut.isEmpty ? "_" : cut) + suffix
    }

    /// `text` without leading or trailing dots and spaces (scalar by scalar:
    /// a space that starts a grapheme with a combining mark goes too).
    static func trimDotsAndSpaces(_ text: String) -> String {
        let scalars = Array(text.unicodeScalars)
        func trimmable(_ scalar: Unicode.Scalar) -> Bool {
            scalar == "." || scalar == " " || scalar.properties.generalCategory == .nonspacingMark
                || scalar.properties.generalCategory == .enclosingMark
        }
        guard let first = scalars.firstIndex(where: { !trimmable($0) }) else { return "" }
        var last = scalars.lastIndex(where: { $0 != "." && $0 != " " }) ?? first
        if last < first { last = first }
        var result = ""
        result.unicodeScalars.append(contentsOf: scalars[first...last])
        return result
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
