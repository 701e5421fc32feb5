import Foundation
import PipelinePayloads
import TextMatching

/// A book as a request names it.
public struct RequestedBook: Sendable, Equatable {
    public var title: String
    public var author: String
    public var asin: String?
    public var isbn: String?

    public init(title: String, author: String, asin: String? = nil, isbn: String? = nil) {
        self.title = title
        self.author = author
        self.asin = asin
        self.isbn = isbn
    }
}

/// Whether a library item is the book a request asked for. Pure.
///
/// In order: the same ASIN; the same ISBN (dashes and spaces ignored, an
/// ISBN-10 equal to its ISBN-13); else title and author, normalised (case,
/// punctuation, accents, a leading article, bracketed parts, series and
/// edition noise such as "Unabridged" or "Book 3", and a subtitle unless
/// both titles have one), numbers required alike when both titles have
/// some (volumes differ by them), scored
/// 0.7 × title similarity + 0.3 × author similarity (Dice on character
/// bigrams) and accepted from 0.7 when the author alone is at least 0.5 alike.
/// A differing ASIN does not rule a title match out: a library often tags
/// another edition's ASIN, and the system we replace, matching on ASIN
/// alone, left such requests at `downloaded` for ever.
public enum LibraryMatcher {
    public static let threshold = 0.7

    /// How a match was made.
    public enum Evidence: Sendable, Equatable {
        case asin
        case isbn
        /// Title and author alike, with the score.
        case similarity(Double)
    }

    /// The best item for `request`, or nil.
    public static func match(_ request: RequestedBook, in items: [LibraryBook]) -> (item: LibraryBook, evidence: Evidence)? {
        if let asin = normalizedASIN(request.asin), let item = items.first(where: { normalizedASIN($0.asin) == asin }) {
            return (item, .asin)
        }
        if let isbn = normalizedISBN(request.isbn), let item = items.first(where: { normalizedISBN($0.isbn) == isbn }) {
            return (item, .isbn)
        }
        var best: (LibraryBook, Double)?
        for item in items {
            guard let score = similarity(request, item), score >= threshold else { continue }
            if score > best?.1 ?? 0 { best = (item, score) }
        }
        return best.map { ($0.0, .similarity($0.1)) }
    }

    /// The title-and-author score, or nil when the authors are too unlike.
    public static func similarity(_ request: RequestedBook, _ item: LibraryBook) -> Double? {
        // Numbers tell volumes apart ("Book 1" is not "Book 3", "The 7 Habits"
        // not "The 8th Habit"): when both titles carry numbers outside
        // brackets, they must carry the same ones. One side alone may have
        // them (a series' place, a year in brackets).
        let requestNumbers = numbers(in: request.title)
        let itemNumbers = numbers(in: item.title)
        if !requestNumbers.isEmpty, !itemNumbers.isEmpty, requestNumbers != itemNumbers { return nil }
        // A subtitle counts when both have one ("Mistborn: The Final Empire"
        // is not "Mistborn: The Well of Ascension"), and is left out when
        // only one side has it ("The Name of the Wind" is its own
        // "…: The Kingkiller Chronicle, Book 1").
        let bothSubtitled = subtitle(request.title) != nil && subtitle(item.title) != nil
        let title =
            bothSubtitled
            ? dice(normalizedTitle(request.title, keepingSubtitle: true), normalizedTitle(item.title, keepingSubtitle: true))
            : dice(normalizedTitle(request.title), normalizedTitle(item.title))
        let requestAuthors = authors(request.author)
        let itemAuthors = authors(item.author)
        var author = 1.0
        if !requestAuthors.isEmpty, !itemAuthors.isEmpty {
            author = requestAuthors.map { wanted in itemAuthors.map { dice(wanted, $0) }.max() ?? 0 }.max() ?? 0
            guard author >= 0.5 else { return nil }
        }
        return 0.7 * title + 0.3 * author
    }

    /// The whole numbers written in `title` outside brackets ("Book 001" → 1, "50th" → 50).
    static func numbers(in title: String) -> Set<Int> {
        let outside = title.replacingOccurrences(of: #"[\(\[\{][^\)\]\}]*[\)\]\}]"#, with: " ", options: .regularExpression)
        return Set(outside.matches(of: /[0-9]+/).compactMap { Int($0.output) })
    }

    static func normalizedASIN(_ asin: String?) -> String? {
        guard let asin = asin?.trimmingCharacters(in: .whitespaces).uppercased(), !asin.isEmpty else { return nil }
        return asin
    }

    /// Digits (and a final X) of an ISBN, as ISBN-13.
    static func normalizedISBN(_ isbn: String?) -> String? {
        guard let isbn else { return nil }
        let digits = isbn.uppercased().filter { $0.isNumber || $0 == "X" }
        if digits.count == 13 { return digits }
        guard digits.count == 10 else { return nil }
        let core = "978" + digits.prefix(9)
        let sum = core.enumerated().reduce(0) { total, pair in
            total + (pair.element.wholeNumberValue ?? 0) * (pair.offset % 2 == 0 ? 1 : 3)
        }
        return core + String((10 - sum % 10) % 10)
    }

    /// Noise that says which edition, not which book.
    static let noise: Set<String> = [
        "unabridged", "abridged", "audiobook", "audio", "edition", "novel", "dramatized", "dramatised", "adaptation",
        "full", "cast", "narrated", "retail", "m4b", "mp3",
    ]

    /// The part after `:` or ` - `, if any.
    static func subtitle(_ title: String) -> String? {
        if let colon = title.firstIndex(of: ":") { return String(title[title.index(after: colon)...]) }
        if let dash = title.range(of: " - ") { return String(title[dash.upperBound...]) }
        return nil
    }

    static func normalizedTitle(_ title: String, keepingSubtitle: Bool = false) -> String {
        var text = title
        text = text.replacingOccurrences(of: #"[\(\[\{][^\)\]\}]*[\)\]\}]"#, with: " ", options: .regularExpression)
        if !keepingSubtitle {
            if let colon = text.firstIndex(of: ":") { text = String(text[..<colon]) }
            if let dash = text.range(of: " - ") { text = String(text[..<dash.lowerBound]) }
        }
        var words = words(text)
        if let first = words.first, ["the", "a", "an"].contains(first), words.count > 1 { words.removeFirst() }
        words = words.filter { !noise.contains($0) }
        // "Book 3", "Volume 2", "#3" at the end: the series' place, not the title.
        while words.count > 2, let last = words.last, Int(last) != nil || ["book", "volume", "vol", "part"].contains(last) {
            words.removeLast()
        }
        return words.joined(separator: " ")
    }

    static func authors(_ field: String) -> [String] { TextMatching.authors(field) }

    static func words(_ text: String) -> [String] { TextMatching.words(text) }

    static func dice(_ first: String, _ second: String) -> Double { TextMatching.similarity(first, second) }
}
