import PipelinePayloads
import PipelineHost
import Testing

/// Which library item is which requested book: a table of pairs, most of
/// them without ASINs, which the system we replace could not match at all.
@Suite struct LibraryMatcherTests {
    struct Pair: Sendable, CustomTestStringConvertible {
        var request: RequestedBook
        var item: LibraryBook
        var matches: Bool
        var why: String
        var testDescription: String { why }
    }

    static let pairs: [Pair] = [
        Pair(request: RequestedBook(title: "Project Hail Mary", author: "Andy Weir", asin: "B08G9PRS1K"),
             item: LibraryBook(id: "1", title: "Totally Different Tag", author: "Someone", asin: "b08g9prs1k"), matches: true,
             why: "the same ASIN, whatever the tags say"),
        Pair(request: RequestedBook(title: "Dune", author: "Frank Herbert", isbn: "0-441-17271-7"),
             item: LibraryBook(id: "2", title: "Dune (40th Anniversary)", author: "Herbert", isbn: "9780441172719"), matches: true,
             why: "ISBN-10 against its ISBN-13"),
        Pair(request: RequestedBook(title: "Project Hail Mary", author: "Andy Weir"),
             item: LibraryBook(id: "3", title: "Project Hail Mary (Unabridged)", author: "Andy Weir"), matches: true,
             why: "no ASIN: edition noise ignored"),
        Pair(request: RequestedBook(title: "The Name of the Wind", author: "Patrick Rothfuss"),
             item: LibraryBook(id: "4", title: "Name of the Wind: The Kingkiller Chronicle, Book 1", author: "Rothfuss, Patrick"),
             matches: true, why: "leading article, subtitle, author written last-name first"),
        Pair(request: RequestedBook(title: "Leviathan Wakes", author: "James S. A. Corey", asin: "B0052T3J5I"),
             item: LibraryBook(id: "5", title: "Leviathan Wakes", author: "James S.A. Corey", asin: "B073H9ZBXB"), matches: true,
             why: "another edition's ASIN in the library (the old system's stuck requests)"),
        Pair(request: RequestedBook(title: "Good Omens", author: "Terry Pratchett & Neil Gaiman"),
             item: LibraryBook(id: "6", title: "Good Omens", author: "Neil Gaiman"), matches: true,
             why: "one of two authors"),
        Pair(request: RequestedBook(title: "Les Misérables", author: "Victor Hugo"),
             item: LibraryBook(id: "7", title: "Les Miserables", author: "Victor Hugo"), matches: true, why: "accents"),
        Pair(request: RequestedBook(title: "Drill Book 001", author: "Drill Author"),
             item: LibraryBook(id: "n1", title: "Drill Book 003", author: "Drill Author"), matches: false,
             why: "another volume: the numbers differ (found by the 200-request drill)"),
        Pair(request: RequestedBook(title: "The 7 Habits of Highly Effective People", author: "Stephen R. Covey"),
             item: LibraryBook(id: "n2", title: "The 8th Habit", author: "Stephen R. Covey"), matches: false,
             why: "an ordinal is a number too"),
        Pair(request: RequestedBook(title: "Mistborn Book 1", author: "Brandon Sanderson"),
             item: LibraryBook(id: "n3", title: "Mistborn (Book 1)", author: "Brandon Sanderson"), matches: true,
             why: "a series' place on one side only (the other's is in brackets)"),
        Pair(request: RequestedBook(title: "Catch-22", author: "Joseph Heller"),
             item: LibraryBook(id: "n4", title: "Catch-22 (50th Anniversary Edition)", author: "Joseph Heller"), matches: true,
             why: "numbers in brackets are edition noise"),
        Pair(request: RequestedBook(title: "Emma", author: "Jane Austen"),
             item: LibraryBook(id: "8", title: "Emma", author: "Alexander McCall Smith"), matches: false,
             why: "the same title by another author"),
        Pair(request: RequestedBook(title: "The Martian", author: "Andy Weir"),
             item: LibraryBook(id: "9", title: "Project Hail Mary", author: "Andy Weir"), matches: false,
             why: "another book by the same author"),
        Pair(request: RequestedBook(title: "Mistborn: The Final Empire", author: "Brandon Sanderson"),
             item: LibraryBook(id: "10", title: "Mistborn: The Well of Ascension", author: "Brandon Sanderson"), matches: false,
             why: "two volumes of one series, both subtitled"),
        Pair(request: RequestedBook(title: "It", author: "Stephen King"),
             item: LibraryBook(id: "11", title: "Cujo", author: "Stephen King"), matches: false, why: "short titles unlike"),
        Pair(request: RequestedBook(title: "Dune", author: "Frank Herbert", asin: "B002V1OF70"),
             item: LibraryBook(id: "12", title: "Dune Messiah", author: "Frank Herbert", asin: "B002V1BPKC"), matches: false,
             why: "different ASINs and a different title"),
    ]

    @Test(arguments: pairs)
    func eachPairIsJudged(_ pair: Pair) {
        let found = LibraryMatcher.match(pair.request, in: [pair.item])
        #expect((found != nil) == pair.matches, "\(pair.why): \(LibraryMatcher.similarity(pair.request, pair.item) as Any)")
    }

    @Test func theBestOfSeveralWinsAndTheASINBeatsSimilarity() {
        let items = [
            LibraryBook(id: "a", title: "Leviathan Wakes", author: "James S. A. Corey"),
            LibraryBook(id: "b", title: "Caliban's War", author: "James S. A. Corey", asin: "B007FG6VTC"),
        ]
        #expect(LibraryMatcher.match(RequestedBook(title: "Leviathan Wakes", author: "James S. A. Corey"), in: items)?.item.id == "a")
        let byASIN = LibraryMatcher.match(RequestedBook(title: "Leviathan Wakes", author: "Corey", asin: "B007FG6VTC"), in: items)
        #expect(byASIN?.item.id == "b" && byASIN?.evidence == .asin)
    }
}
