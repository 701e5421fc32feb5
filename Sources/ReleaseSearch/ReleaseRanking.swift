import Foundation
@_exported import TextMatching

/// The book a search is for.
public struct BookQuery: Sendable, Equatable {
    public var title: String
    public var author: String
    /// The audiobook's length, when known: sizes are judged against it.
    public var runtimeMinutes: Int?

    public init(title: String, author: String, runtimeMinutes: Int? = nil) {
        self.title = title
        self.author = author
        self.runtimeMinutes = runtimeMinutes
    }
}

/// One release as the ranking sees it.
public struct ReleaseCandidate: Sendable, Hashable {
    /// The caller's id for it (an indexer id and guid), to find it again.
    public var key: String
    public var title: String
    public var sizeBytes: Int64
    /// Nil for usenet (no swarm).
    public var seeders: Int?
    public var indexerID: Int?
    public var publishDate: String?
    /// How often the release was downloaded from the indexer, when it says.
    public var grabs: Int?
    /// Days since it was posted, when the indexer says.
    public var ageDays: Int?

    public init(
        key: String = "", title: String, sizeBytes: Int64, seeders: Int?, indexerID: Int? = nil, publishDate: String? = nil,
        grabs: Int? = nil, ageDays: Int? = nil
    ) {
        self.grabs = grabs
        self.ageDays = ageDays
        self.key = key
        self.title = title
        self.sizeBytes = sizeBytes
        self.seeders = seeders
        self.indexerID = indexerID
        self.publishDate = publishDate
    }
}

/// A candidate's score, with its parts (docs/release-ranking.md).
public struct ReleaseScore: Sendable, Equatable {
    /// Title (45) and author (15) match; 0 when a gate failed.
    public var match: Double
    /// Audio format: m4b 10, flac 7, m4a 6, mp3 4, unknown 1.
    public var format: Double
    /// Size sanity, 0 to 15.
    public var size: Double
    /// Availability, 0 to 15: a torrent's swarm (its seeders); a usenet
    /// release's grabs and age.
    public var seeders: Double
    /// The indexer's bonus (or malus), percent of the base.
    public var indexerBonusPercent: Double
    /// Why the release is not acceptable, if it is not.
    public var rejection: String?

    /// Out of 100.
    public var base: Double { match + format + size + seeders }
    /// The base with the indexer's bonus.
    public var final: Double { base * (1 + indexerBonusPercent / 100) }
    public var isAcceptable: Bool { rejection == nil && base >= ReleaseRanker.threshold }
}

/// Ranks an indexer's releases for one book. Pure: no I/O.
///
/// Two gates come first: at least 80 % of the title's words (stop words,
/// subtitle and bracketed parts left out) must be in the release title, and
/// one of the authors must be (their full name as words, or their last
/// name); a release that fails either matches 0 and is rejected. Then, out of
/// 100: title 45 (the title as a phrase, else 45 × bigram similarity), author
/// 15 (the share of authors found), format 10, size 15, availability 15 (a
/// torrent's seeders; a usenet release's grabs and age). A release is
/// acceptable from 50. The indexer's configured bonus scales the result
/// (`final`); ties go to more seeders (or grabs), then the newer release.
public struct ReleaseRanker: Sendable {
    public static let threshold = 50.0
    /// Below this a release is a sample or a fake, not a book.
    public static let minimumBytes: Int64 = 20_000_000

    public var book: BookQuery
    /// Percent bonus (or malus, negative) per indexer id.
    public var indexerBonus: [Int: Double]

    public init(book: BookQuery, indexerBonus: [Int: Double] = [:]) {
        self.book = book
        self.indexerBonus = indexerBonus
    }

    public func score(_ release: ReleaseCandidate) -> ReleaseScore {
        var score = ReleaseScore(
            match: 0, format: Self.format(release.title), size: size(release.sizeBytes),
            seeders: release.seeders.map(Self.seeders) ?? Self.usenetAvailability(grabs: release.grabs, ageDays: release.ageDays),
            indexerBonusPercent: release.indexerID.flatMap { indexerBonus[$0] } ?? 0)
        if release.sizeBytes > 0, release.sizeBytes < Self.minimumBytes {
            score.rejection = "smaller than 20 MB: a sample, not a book"
            return score
        }
        let words = Set(TextMatching.words(release.title))
        let required = TextMatching.requiredWords(ofTitle: book.title)
        let present = required.filter(words.contains).count
        guard !required.isEmpty, Double(present) / Double(required.count) >= 0.8 else {
            score.rejection = "the title's words are not there (\(present) of \(required.count))"
            return score
        }
        let authors = TextMatching.authors(book.author)
        let found = authors.filter { Self.mentions(release.title, author: $0) }
        guard authors.isEmpty || !found.isEmpty else {
            score.rejection = "no author of the book in the title"
            return score
        }
        let titleScore =
            TextMatching.containsPhrase(release.title, book.title)
                || TextMatching.containsPhrase(release.title, required.joined(separator: " "))
            ? 45 : 45 * TextMatching.similarity(book.title, release.title)
        let authorScore = authors.isEmpty ? 15 : 15 * Double(found.count) / Double(authors.count)
        score.match = min(60, titleScore + authorScore)
        if !score.isAcceptable { score.rejection = "scored \(Int(score.base.rounded())), below \(Int(Self.threshold))" }
        return score
    }

    /// The acceptable releases, best first, and the rejected ones with why.
    public func rank(_ releases: [ReleaseCandidate]) -> (accepted: [(ReleaseCandidate, ReleaseScore)], rejected: [(ReleaseCandidate, ReleaseScore)]) {
        let scored = releases.map { ($0, score($0)) }
        let accepted = scored.filter { $0.1.isAcceptable }.sorted { left, right in
            if left.1.final != right.1.final { return left.1.final > right.1.final }
            let (leftCount, rightCount) = (left.0.seeders ?? left.0.grabs ?? 0, right.0.seeders ?? right.0.grabs ?? 0)
            if leftCount != rightCount { return leftCount > rightCount }
            return (left.0.publishDate ?? "") > (right.0.publishDate ?? "")
        }
        return (accepted, scored.filter { !$0.1.isAcceptable })
    }

    static func mentions(_ title: String, author: String) -> Bool {
        if TextMatching.containsPhrase(title, author) { return true }
        let names = author.split(separator: " ")
        guard let last = names.last, last.count > 2 else { return false }
        return TextMatching.containsPhrase(title, String(last))
    }

    static func format(_ title: String) -> Double {
        let words = Set(TextMatching.words(title))
        if words.contains("m4b") { return 10 }
        if words.contains("flac") { return 7 }
        if words.contains("m4a") || words.contains("aac") { return 6 }
        if words.contains("mp3") { return 4 }
        return 1
    }

    /// With a runtime: 0.45 MB a minute (about 64 kbit/s) or more is full
    /// marks, less scales down. Without: anything from 20 MB to 5 GB.
    func size(_ bytes: Int64) -> Double {
        guard bytes > 0 else { return 0 }
        let megabytes = Double(bytes) / 1_000_000
        if let minutes = book.runtimeMinutes, minutes > 0 {
            return min(15, 15 * (megabytes / Double(minutes)) / 0.45)
        }
        return megabytes <= 5000 ? 15 : 5
    }

    static func seeders(_ seeders: Int) -> Double {
        guard seeders > 0 else { return 0 }
        return min(15, 6 * log10(Double(seeders) + 1))
    }

    /// A usenet release has no swarm: what tells whether its articles are
    /// all still there is how many fetched it (grabs, 0 to 10:
    /// `min(10, 5 × log10(grabs + 1))`, 5 when unknown) and how old the post
    /// is (0 to 5: full up to 1000 days, none from 3000, linear between;
    /// 2.5 when unknown), as servers expire and take down old posts.
    static func usenetAvailability(grabs: Int?, ageDays: Int?) -> Double {
        let popularity = grabs.map { min(10, 5 * log10(Double(max(0, $0)) + 1)) } ?? 5
        let freshness = ageDays.map { days -> Double in
            let age = Double(max(0, days))
            return age <= 1_000 ? 5 : age >= 3_000 ? 0 : 5 * (3_000 - age) / 2_000
        } ?? 2.5
        return popularity + freshness
    }
}
