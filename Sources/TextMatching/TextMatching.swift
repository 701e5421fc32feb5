import Foundation

/// Text as the ranking compares it: lower case, accents and punctuation
/// gone (apostrophes dropped inside words), camelCase split, one space
/// between words.
public enum TextMatching {
    public static func normalize(_ text: String) -> String {
        var spaced = ""
        var previous: Character?
        for character in text {
            // "ProjectHailMary" → "Project Hail Mary"
            if let previous, previous.isLowercase, character.isUppercase { spaced.append(" ") }
            spaced.append(character)
            previous = character
        }
        let folded = spaced.folding(options: [.diacriticInsensitive, .caseInsensitive, .widthInsensitive], locale: nil)
        var result = ""
        for scalar in folded.unicodeScalars {
            if scalar == "'" || scalar == "’" { continue }
            result.unicodeScalars.append(CharacterSet.alphanumerics.contains(scalar) ? scalar : " ")
        }
        return result.split(separator: " ").joined(separator: " ")
    }

    public static func words(_ text: String) -> [String] {
        normalize(text).split(separator: " ").map(String.init)
    }

    /// Words that say nothing about which book it is.
    public static let stopWords: Set<String> = ["the", "a", "an", "of", "on", "in", "at", "by", "for", "and", "to"]

    /// The title's words that a release of it must carry: without stop
    /// words, without a subtitle (after `:`) or bracketed parts.
    public static func requiredWords(ofTitle title: String) -> [String] {
        var main = title
        if let colon = main.firstIndex(of: ":") { main = String(main[..<colon]) }
        main = main.replacingOccurrences(of: #"[\(\[\{][^\)\]\}]*[\)\]\}]"#, with: " ", options: .regularExpression)
        let words = self.words(main).filter { !stopWords.contains($0) }
        return words.isEmpty ? self.words(main) : words
    }

    /// The authors in an author field: split on `,`, `&`, ` and `, `;`;
    /// names of two letters or fewer dropped.
    public static func authors(_ field: String) -> [String] {
        field.replacingOccurrences(of: " and ", with: ",").replacingOccurrences(of: "&", with: ",")
            .replacingOccurrences(of: ";", with: ",").split(separator: ",")
            .map { normalize(String($0)) }.filter { $0.count > 2 }
    }

    /// Dice's coefficient on character bigrams, 0 to 1.
    public static func similarity(_ first: String, _ second: String) -> Double {
        let a = bigrams(normalize(first))
        let b = bigrams(normalize(second))
        guard !a.isEmpty || !b.isEmpty else { return 1 }
        guard !a.isEmpty, !b.isEmpty else { return 0 }
        var pool = b
        var shared = 0
        for bigram in a {
            if let index = pool.firstIndex(of: bigram) {
                shared += 1
                pool.remove(at: index)
            }
        }
        return 2 * Double(shared) / Double(a.count + b.count)
    }

    private static func bigrams(_ text: String) -> [String] {
        let characters = Array(text.replacingOccurrences(of: " ", with: ""))
        guard characters.count > 1 else { return characters.map { String($0) } }
        return (0..<(characters.count - 1)).map { String(characters[$0...$0 + 1]) }
    }

    /// Whether `phrase` occurs in `text` as whole words (both normalized).
    public static func containsPhrase(_ text: String, _ phrase: String) -> Bool {
        let haystack = " " + normalize(text) + " "
        let needle = " " + normalize(phrase) + " "
        return needle.count > 2 && haystack.contains(needle)
    }
}
