import ReleaseSearch
import Testing

/// The ranking on release titles as indexers write them.
@Suite struct ReleaseRankingTests {
    let ranker = ReleaseRanker(book: BookQuery(title: "Project Hail Mary", author: "Andy Weir"))

    static let cases: [(title: String, size: Int64, seeders: Int?, acceptable: Bool, why: String)] = [
        ("Project Hail Mary by Andy Weir [ENG / M4B]", 1_073_741_824, 87, true, "the book, m4b"),
        ("Andy Weir - Project Hail Mary (Unabridged) MP3 64kbps", 734_003_200, 14, true, "the book, mp3"),
        ("Andy.Weir.Project.Hail.Mary.Audiobook.M4B", 980_000_000, 3, true, "dots for spaces"),
        ("Weir, Andy - ProjectHailMary [FLAC]", 2_400_000_000, 2, true, "camelCase, last name only"),
        ("Project Hail Mary (2026) 1080p WEB-DL x264", 4_000_000_000, 300, false, "the film: no author"),
        ("The Martian by Andy Weir [M4B]", 600_000_000, 50, false, "another book by the author"),
        ("Project Hail Mary by Andy Weir sample", 3_000_000, 9, false, "too small to be a book"),
        ("Artemis - Andy Weir (2017) MP3", 500_000_000, 40, false, "another book"),
        ("Project Hail Mary - Summary & Analysis by QuickRead", 40_000_000, 5, false, "not the author"),
        ("Project Hail Mary by Andy Weir [M4B]", 900_000_000, 0, true, "no seeders scores lower but passes"),
    ]

    @Test(arguments: cases.indices)
    func eachReleaseIsJudgedAsAPersonWould(_ index: Int) {
        let entry = Self.cases[index]
        let score = ranker.score(ReleaseCandidate(title: entry.title, sizeBytes: entry.size, seeders: entry.seeders))
        #expect(score.isAcceptable == entry.acceptable, "\(entry.title) (\(entry.why)): \(score)")
    }

    @Test func theBestFormatAndSwarmComeFirst() {
        let releases = Self.cases.map { ReleaseCandidate(key: $0.title, title: $0.title, sizeBytes: $0.size, seeders: $0.seeders) }
        let (accepted, rejected) = ranker.rank(releases)
        #expect(accepted.first?.0.title == "Project Hail Mary by Andy Weir [ENG / M4B]")
        #expect(accepted.map(\.0.title).firstIndex(of: "Andy Weir - Project Hail Mary (Unabridged) MP3 64kbps")!
            > accepted.map(\.0.title).firstIndex(of: "Andy.Weir.Project.Hail.Mary.Audiobook.M4B")!, "m4b before mp3")
        #expect(accepted.count == 5 && rejected.count == 5)
        #expect(rejected.allSatisfy { $0.1.rejection != nil })
    }

    /// Usenet has no swarm: grabs and age stand for it, and size and
    /// format count as for a torrent.
    @Test func usenetReleasesAreJudgedByGrabsAgeAndSize() {
        let title = "Andy Weir - Project Hail Mary (Unabridged) [M4B]"
        func usenet(_ key: String, size: Int64 = 900_000_000, grabs: Int?, age: Int?) -> ReleaseCandidate {
            ReleaseCandidate(key: key, title: title, sizeBytes: size, seeders: nil, grabs: grabs, ageDays: age)
        }
        #expect(ranker.score(usenet("x", grabs: 100, age: 30)).seeders == 15, "popular and recent: full marks")
        #expect(ranker.score(usenet("x", grabs: nil, age: nil)).seeders == 7.5, "unknown: half")
        #expect(ranker.score(usenet("x", grabs: 0, age: 3_500)).seeders == 0, "never fetched, past most retention")
        #expect(abs(ranker.score(usenet("x", grabs: 9, age: 2_000)).seeders - 7.5) < 0.001, "5 for 9 grabs, 2.5 at 2000 days")
        #expect(ranker.score(usenet("x", grabs: -5, age: -1)).seeders == 5, "nonsense figures count as none and as new")
        let (accepted, rejected) = ranker.rank([
            usenet("old", grabs: 3, age: 2_900), usenet("popular", grabs: 1_532, age: 412), usenet("sample", size: 3_000_000, grabs: 900, age: 1),
            usenet("fresh", grabs: 3, age: 3),
        ])
        #expect(accepted.map(\.0.key) == ["popular", "fresh", "old"])
        #expect(rejected.map(\.0.key) == ["sample"], "a sample is a sample on usenet too")
        // A tie on score: more grabs first, as more seeders would be.
        let tie = ranker.rank([usenet("few", grabs: 2_000, age: 5), usenet("many", grabs: 3_000, age: 5)]).accepted
        #expect(tie.map(\.0.key) == ["many", "few"])
    }

    @Test func anIndexerBonusBreaksTheTieAndARuntimeJudgesTheSize() {
        let book = BookQuery(title: "Project Hail Mary", author: "Andy Weir", runtimeMinutes: 970)
        let ranker = ReleaseRanker(book: book, indexerBonus: [3: 20])
        let same = "Project Hail Mary by Andy Weir [M4B]"
        let (accepted, _) = ranker.rank([
            ReleaseCandidate(key: "a", title: same, sizeBytes: 900_000_000, seeders: 30, indexerID: 12),
            ReleaseCandidate(key: "b", title: same, sizeBytes: 900_000_000, seeders: 30, indexerID: 3),
        ])
        #expect(accepted.map(\.0.key) == ["b", "a"])
        // 970 minutes in 100 MB is about 0.1 MB a minute: a low-bitrate copy scores less on size.
        let small = ranker.score(ReleaseCandidate(title: same, sizeBytes: 100_000_000, seeders: 30)).size
        let full = ranker.score(ReleaseCandidate(title: same, sizeBytes: 900_000_000, seeders: 30)).size
        #expect(small < 5 && full == 15)
    }

    @Test func titlesWithSubtitlesAndSeveralAuthorsMatch() {
        let ranker = ReleaseRanker(book: BookQuery(title: "Good Omens: The Nice and Accurate Prophecies", author: "Terry Pratchett, Neil Gaiman"))
        let score = ranker.score(ReleaseCandidate(title: "Neil Gaiman & Terry Pratchett - Good Omens [M4B]", sizeBytes: 500_000_000, seeders: 12))
        #expect(score.isAcceptable, "\(score)")
        #expect(score.match == 60)
    }
}
