import Foundation
import ServiceStandIns
import PipelineHost
import Testing

/// The library backends a plugin ships for, each with its server's stand-in.
enum LibraryBackendKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case plex
    case audiobookshelf

    var testDescription: String { rawValue }

    func standIn() async throws -> any LibraryServerStandIn {
        switch self {
        case .plex: try await PlexStandIn()
        case .audiobookshelf: try await AudiobookshelfStandIn()
        }
    }
}

/// One suite that every library plugin passes against its server's
/// stand-in, run by a host: what `scan_library` and
/// `library_recently_added_check` must do, whichever server holds the books.
@Suite struct LibraryBackendConformanceTests {
    static func pipeline(
        _ server: any LibraryServerStandIn, token: String? = nil, libraryID: String? = nil, attempts: Int = 1
    ) async throws -> DownloadPipeline {
        try await DownloadPipeline(
            plugin: "libDownloadQBittorrent.so", config: #"url: "http://127.0.0.1:9""#,
            libraryBackend: (
                server.pluginFile,
                server.pluginConfig(
                    token: token, libraryID: libraryID, extra: "page_size: 2, recently_added: 3, scan_settle_seconds: 0.2")
            ),
            libraryAttempts: attempts)
    }

    static func waitForEnd(_ job: String, of type: String, in pipeline: DownloadPipeline) async throws -> (state: String, reason: String) {
        let queue = try #require(pipeline.runtime.queues[type])
        try await eventually("job \(job) ended", every: .milliseconds(50)) {
            let state = try await queue.job(job)?.state
            return state == .completed || state == .failed
        }
        let record = try #require(try await queue.job(job))
        return ("\(record.state)", record.failedReason ?? "")
    }

    @Test(arguments: LibraryBackendKind.allCases)
    func aScanReadsEveryPageRecordsTheAudiobooksAndMakesTheRequestsTheyMatchAvailable(_ kind: LibraryBackendKind) async throws {
        let server = try await kind.standIn()
        server.add(StandInBook(id: "4812", title: "Project Hail Mary", author: "Andy Weir", asin: "B08G9PRS1K", addedAt: 1_730_001_000))
        server.add(StandInBook(id: "4790", title: "The Martian (Unabridged)", author: "Andy Weir", addedAt: 1_729_900_000))
        server.add(StandInBook(id: "4701", title: "Dune", author: "Frank Herbert", addedAt: 1_700_000_000))
        server.add(StandInBook(id: "4702", title: "Artemis", author: "Andy Weir", addedAt: 1_700_000_100, hasAudio: false))
        server.add(StandInBook(id: "4703", title: "Children of Time", author: "Adrian Tchaikovsky", addedAt: 1_700_000_200))
        let pipeline = try await Self.pipeline(server)
        let byASIN = try await pipeline.ledger.create(title: "Hail Mary", author: "Weir", asin: "B08G9PRS1K", status: .downloaded).id
        let noASIN = try await pipeline.ledger.create(title: "The Martian", author: "Andy Weir", status: .downloaded).id
        let ebookOnly = try await pipeline.ledger.create(title: "Artemis", author: "Andy Weir", status: .downloaded).id
        let job = try await pipeline.runtime.enqueue("scan_library", payloadJSON: "{}")
        let end = try await Self.waitForEnd(job, of: "scan_library", in: pipeline)
        #expect(end.state == "completed", "\(end.reason)")
        try await eventually("matched", every: .milliseconds(50)) {
            (try await pipeline.requestRow(byASIN).status, try await pipeline.requestRow(noASIN).status) == ("available", "available")
        }
        #expect(try await pipeline.requestRow(ebookOnly).status == "downloaded", "an ebook is not the audiobook")
        let items = try await pipeline.postgres.query(
            "SELECT item_id, asin FROM library_items WHERE backend = $1 ORDER BY item_id", [server.backendName]
        ).rows
        #expect(items == [["4701", nil], ["4703", nil], ["4790", nil], ["4812", "B08G9PRS1K"]], "three pages of two; no ebook")
        // A book gone from the server goes from the mirror at the next full scan.
        server.remove("4701")
        let second = try await pipeline.runtime.enqueue("scan_library", payloadJSON: "{}")
        #expect(try await Self.waitForEnd(second, of: "scan_library", in: pipeline).state == "completed")
        try await eventually("stale item removed", every: .milliseconds(50)) {
            try await pipeline.postgres.query("SELECT count(*) FROM library_items").rows == [["3"]]
        }
        try await pipeline.stop()
    }

    @Test(arguments: LibraryBackendKind.allCases)
    func theRecentlyAddedCheckReadsTheNewestAndRemovesNothing(_ kind: LibraryBackendKind) async throws {
        let server = try await kind.standIn()
        for index in 0..<7 {
            server.add(StandInBook(id: "b\(index)", title: "Book \(index)", author: "Some Author", addedAt: 1_700_000_000 + index))
        }
        let pipeline = try await Self.pipeline(server)
        try await pipeline.postgres.query(
            "INSERT INTO library_items (backend, item_id, title) VALUES ($1, 'old', 'Old Book')", [server.backendName])
        let request = try await pipeline.ledger.create(title: "Book 6", author: "Some Author", status: .downloaded).id
        let job = try await pipeline.runtime.enqueue("library_recently_added_check", payloadJSON: "{}")
        #expect(try await Self.waitForEnd(job, of: "library_recently_added_check", in: pipeline).state == "completed")
        try await eventually("available", every: .milliseconds(50)) { try await pipeline.requestRow(request).status == "available" }
        let ids = Set(try await pipeline.postgres.query("SELECT item_id FROM library_items").rows.compactMap { $0[0] })
        #expect(ids == ["old", "b4", "b5", "b6"], "the newest three, and nothing removed")
        try await pipeline.stop()
    }

    @Test(arguments: LibraryBackendKind.allCases)
    func aRefusedTokenFailsForGoodNamingTheSetting(_ kind: LibraryBackendKind) async throws {
        let server = try await kind.standIn()
        let pipeline = try await Self.pipeline(server, token: "wrong", attempts: 3)
        let job = try await pipeline.runtime.enqueue("scan_library", payloadJSON: "{}")
        let end = try await Self.waitForEnd(job, of: "scan_library", in: pipeline)
        #expect(end.state == "failed")
        #expect(end.reason.contains("refused the token (401)") && end.reason.contains("set token"), "\(end.reason)")
        let attempts = try await pipeline.runtime.queues["scan_library"]!.job(job)?.attemptsMade
        #expect(attempts == 1, "a refused token is not retried")
        try await pipeline.stop()
    }

    @Test(arguments: LibraryBackendKind.allCases)
    func aLibraryTheServerDoesNotHaveFailsForGoodNamingTheSetting(_ kind: LibraryBackendKind) async throws {
        let server = try await kind.standIn()
        let pipeline = try await Self.pipeline(server, libraryID: "999", attempts: 3)
        let job = try await pipeline.runtime.enqueue("library_recently_added_check", payloadJSON: "{}")
        let end = try await Self.waitForEnd(job, of: "library_recently_added_check", in: pipeline)
        #expect(end.state == "failed")
        #expect(end.reason.contains("no library 999 (404") && end.reason.contains("set library_id"), "\(end.reason)")
        try await pipeline.stop()
    }

    @Test(arguments: LibraryBackendKind.allCases)
    func aServerErrorIsRetriedAndTheNextAttemptSucceeds(_ kind: LibraryBackendKind) async throws {
        let server = try await kind.standIn()
        server.add(StandInBook(id: "1", title: "Piranesi", author: "Susanna Clarke", addedAt: 1_700_000_000))
        server.faults.fail(status: 500, body: "Internal Server Error")
        let pipeline = try await Self.pipeline(server, attempts: 2)
        let request = try await pipeline.ledger.create(title: "Piranesi", author: "Susanna Clarke", status: .downloaded).id
        let job = try await pipeline.runtime.enqueue("scan_library", payloadJSON: "{}")
        let end = try await Self.waitForEnd(job, of: "scan_library", in: pipeline)
        #expect(end.state == "completed", "\(end.reason)")
        #expect(try await pipeline.runtime.queues["scan_library"]!.job(job)?.attemptsMade == 2)
        try await eventually("available", every: .milliseconds(50)) { try await pipeline.requestRow(request).status == "available" }
        try await pipeline.stop()
    }

    @Test(arguments: LibraryBackendKind.allCases)
    func aServerThatHangsIsGivenUpOnAfterTheRequestTimeout(_ kind: LibraryBackendKind) async throws {
        let server = try await kind.standIn()
        server.faults.hang()
        let pipeline = try await Self.pipeline(server)
        let job = try await pipeline.runtime.enqueue("scan_library", payloadJSON: "{}")
        let end = try await Self.waitForEnd(job, of: "scan_library", in: pipeline)
        #expect(end.state == "failed")
        #expect(end.reason.contains("did not answer within 2"), "\(end.reason)")
        try await pipeline.stop()
    }

    @Test(arguments: LibraryBackendKind.allCases)
    func aScanAfterAnImportAsksTheServerToScanThenReadsTheNewestBooks(_ kind: LibraryBackendKind) async throws {
        let server = try await kind.standIn()
        let pipeline = try await Self.pipeline(server)
        let request = try await pipeline.ledger.create(title: "Klara and the Sun", author: "Kazuo Ishiguro", status: .downloaded).id
        // What the server finds when it scans the folder the import wrote.
        server.add(StandInBook(id: "77", title: "Klara and the Sun", author: "Kazuo Ishiguro", addedAt: 1_800_000_000))
        let folder = "/srv/audiobooks/Kazuo Ishiguro/Klara and the Sun"
        let job = try await pipeline.runtime.enqueue("scan_library", payloadJSON: #"{"refresh": true, "path": "\#(folder)"}"#)
        let end = try await Self.waitForEnd(job, of: "scan_library", in: pipeline)
        #expect(end.state == "completed", "\(end.reason)")
        // Plex scans one folder; Audiobookshelf scans the whole library.
        #expect(server.scansRequested == [kind == .plex ? folder : nil])
        try await eventually("available after the check that follows", every: .milliseconds(50)) {
            try await pipeline.requestRow(request).status == "available"
        }
        try await pipeline.stop()
    }
}
