import Foundation
import PipelineHost
import Testing

/// The Plex plugin against a Plex stand-in, run by a host: the library is
/// read and reported, and the requests it holds become available.
@Suite struct LibraryPlexTests {
    static func pipeline(_ plex: PlexStandIn, token: String? = nil) async throws -> DownloadPipeline {
        try await DownloadPipeline(
            plugin: "libDownloadQBittorrent.so", config: #"url: "http://127.0.0.1:9""#,
            libraryBackend: (
                "libLibraryPlex.so", "url: \"\(plex.url)\", token: \"\(token ?? plex.token)\", library_id: \"3\", page_size: 2"
            ))
    }

    @Test func aScanReadsEveryPageAndMakesTheBooksItHoldsAvailable() async throws {
        let plex = try await PlexStandIn()
        plex.add(.init(ratingKey: "4812", title: "Project Hail Mary", author: "Andy Weir",
                       guid: "com.plexapp.agents.audnexus://B08G9PRS1K_us?lang=en", addedAt: 1_730_001_000))
        plex.add(.init(ratingKey: "4790", title: "The Martian (Unabridged)", author: "Andy Weir",
                       guid: "plex://album/5d07c7e5403c640290bb5bfc", addedAt: 1_729_900_000))
        plex.add(.init(ratingKey: "4701", title: "Dune", author: "Frank Herbert", guid: "plex://album/aa", addedAt: 1_700_000_000))
        let pipeline = try await Self.pipeline(plex)
        let byASIN = try await pipeline.ledger.create(title: "Hail Mary", author: "Weir", asin: "B08G9PRS1K", status: .downloaded).id
        let noASIN = try await pipeline.ledger.create(title: "The Martian", author: "Andy Weir", status: .downloaded).id
        let absent = try await pipeline.ledger.create(title: "Artemis", author: "Andy Weir", status: .downloaded).id
        _ = try await pipeline.runtime.enqueue("scan_library", payloadJSON: "{}")
        try await eventually("matched", every: .milliseconds(50)) {
            let statuses = (try await pipeline.requestRow(byASIN).status, try await pipeline.requestRow(noASIN).status)
            return statuses == ("available", "available")
        }
        #expect(try await pipeline.requestRow(absent).status == "downloaded")
        let items = try await pipeline.postgres.query("SELECT item_id, asin FROM library_items WHERE backend = 'plex' ORDER BY item_id").rows
        #expect(items == [["4701", nil], ["4790", nil], ["4812", "B08G9PRS1K"]], "all three pages of two")
        // A book gone from Plex goes from the mirror at the next scan.
        plex.remove("4701")
        _ = try await pipeline.runtime.enqueue("scan_library", payloadJSON: "{}")
        try await eventually("stale item removed", every: .milliseconds(50)) {
            try await pipeline.postgres.query("SELECT count(*) FROM library_items").rows == [["2"]]
        }
        try await pipeline.stop()
    }

    @Test func theRecentlyAddedCheckReadsTheNewestAndRemovesNothing() async throws {
        let plex = try await PlexStandIn()
        for index in 0..<15 {
            plex.add(.init(ratingKey: "\(index)", title: "Book \(index)", author: "Author", guid: "plex://album/\(index)", addedAt: 1_700_000_000 + index))
        }
        let pipeline = try await Self.pipeline(plex)
        try await pipeline.postgres.query("INSERT INTO library_items (backend, item_id, title) VALUES ('plex', 'old', 'Old Book')")
        let request = try await pipeline.ledger.create(title: "Book 14", author: "Author", status: .downloaded).id
        _ = try await pipeline.runtime.enqueue("library_recently_added_check", payloadJSON: "{}")
        try await eventually("available", every: .milliseconds(50)) { try await pipeline.requestRow(request).status == "available" }
        let ids = Set(try await pipeline.postgres.query("SELECT item_id FROM library_items").rows.compactMap { $0[0] })
        #expect(ids == Set(["old"] + (5..<15).map(String.init)), "the newest ten, and nothing removed")
        try await pipeline.stop()
    }

    @Test func aRefusedTokenFailsForGoodNamingTheSetting() async throws {
        let plex = try await PlexStandIn()
        let pipeline = try await Self.pipeline(plex, token: "wrong")
        let job = try await pipeline.runtime.enqueue("scan_library", payloadJSON: "{}")
        try await eventually("failed", every: .milliseconds(50)) {
            try await pipeline.runtime.queues["scan_library"]!.job(job)?.state == .failed
        }
        let reason = try await pipeline.runtime.queues["scan_library"]!.job(job)?.failedReason ?? ""
        #expect(reason.contains("Plex refused the token (401)") && reason.contains("set token"), "\(reason)")
        try await pipeline.stop()
    }
}
