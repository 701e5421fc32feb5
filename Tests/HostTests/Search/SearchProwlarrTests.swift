import Foundation
import ServiceStandIns
import PipelineHost
import PipelineJSON
import Testing

/// `search_indexers` run by a host against a Prowlarr stand-in.
@Suite struct SearchProwlarrTests {
    static func pipeline(_ prowlarr: ProwlarrStandIn, apiKey: String? = nil) async throws -> DownloadPipeline {
        try await DownloadPipeline(
            plugin: "libDownloadQBittorrent.so", config: #"url: "http://127.0.0.1:9""#, downloadConcurrency: 0,
            search: "url: \"\(prowlarr.url)\", api_key: \(apiKey ?? prowlarr.apiKey), indexer_bonus: {\"3\": 0}")
    }

    static func search(_ pipeline: DownloadPipeline, request: String, book: String, manual: Bool = false, blocklist: [String] = [])
        async throws
    {
        let list = blocklist.map { DownloadPipeline.quoted($0) }.joined(separator: ",")
        _ = try await pipeline.runtime.enqueue(
            "search_indexers",
            payloadJSON: #"{"request_id":"\#(request)","book":\#(book),"manual":\#(manual),"blocklist":[\#(list)]}"#)
    }

    static let book = #"{"title":"Project Hail Mary","author":"Andy Weir","asin":"B08G9PRS1K"}"#

    @Test func theBestReleaseAndItsAlternatesGoToTheDownloadClient() async throws {
        let prowlarr = try await ProwlarrStandIn()
        prowlarr.add(title: "Andy Weir - Project Hail Mary (Unabridged) MP3 64kbps", indexer: 3, size: 734_003_200, seeders: 14)
        prowlarr.add(title: "Project Hail Mary by Andy Weir [ENG / M4B]", size: 1_073_741_824, seeders: 87)
        prowlarr.add(title: "Project Hail Mary (2026) 1080p WEB-DL", indexer: 3, size: 4_000_000_000, seeders: 300)
        prowlarr.add(title: "Andy.Weir.Project.Hail.Mary.Audiobook.M4B", indexer: 3, protocol: "usenet")
        prowlarr.add(title: "Project Hail Mary by Andy Weir [M4B] (old upload)", size: 900_000_000, seeders: 0)
        let pipeline = try await Self.pipeline(prowlarr)
        let request = try await pipeline.ledger.create(title: "Project Hail Mary", author: "Andy Weir", status: .pending).id
        try await Self.search(pipeline, request: request, book: Self.book, blocklist: ["Project Hail Mary by Andy Weir [M4B] (old upload)"])
        var payload = ""
        try await eventually("download_torrent enqueued", every: .milliseconds(50)) {
            let rows = try await pipeline.postgres.query("SELECT payload::text FROM jobs WHERE job_type = 'download_torrent'").rows
            payload = rows.first?.first.flatMap { $0 } ?? ""
            return !payload.isEmpty
        }
        #expect(try await pipeline.runtime.queues["download_torrent"]!.counts()[.waiting] == 1)
        let value = try JSONDecoder().decode(JSONValue.self, from: Data(payload.utf8))
        #expect(value["request_id"]?.stringValue == request)
        #expect(value["release"]?["title"]?.stringValue == "Project Hail Mary by Andy Weir [ENG / M4B]")
        #expect(value["release"]?["download_url"]?.stringValue?.hasPrefix(prowlarr.url + "/12/download?apikey=") == true)
        #expect(value["alternates"]?.arrayValue?.map { $0["title"]?.stringValue } == ["Andy Weir - Project Hail Mary (Unabridged) MP3 64kbps"])
        #expect(value["book"]?["asin"]?.stringValue == "B08G9PRS1K")
        #expect(prowlarr.queries == ["Project Hail Mary Andy Weir", "Project Hail Mary"])
        #expect(try await pipeline.requestRow(request).status == "searching")
        try await pipeline.stop()
    }

    @Test func nothingAcceptableRestsAtAwaitingSearchWithTheReason() async throws {
        let prowlarr = try await ProwlarrStandIn()
        prowlarr.add(title: "The Martian by Andy Weir [M4B]", size: 600_000_000, seeders: 50)
        let pipeline = try await Self.pipeline(prowlarr)
        let request = try await pipeline.ledger.create(title: "Project Hail Mary", author: "Andy Weir", status: .pending).id
        try await Self.search(pipeline, request: request, book: Self.book)
        try await eventually("awaiting_search", every: .milliseconds(50)) {
            try await pipeline.requestRow(request).status == "awaiting_search"
        }
        #expect(try await pipeline.requestRow(request).reason == "no results from the indexers; will search again")
        #expect(try await pipeline.runtime.queues["download_torrent"]!.counts().values.reduce(0, +) == 0)
        try await pipeline.stop()
    }

    @Test func aWrongAPIKeyFailsForGoodNamingTheSetting() async throws {
        let prowlarr = try await ProwlarrStandIn()
        let pipeline = try await Self.pipeline(prowlarr, apiKey: "not-the-key")
        let request = try await pipeline.ledger.create(title: "Project Hail Mary", author: "Andy Weir", status: .pending).id
        try await Self.search(pipeline, request: request, book: Self.book)
        try await eventually("failed", every: .milliseconds(50)) { try await pipeline.requestRow(request).status == "failed" }
        let reason = try await pipeline.requestRow(request).reason ?? ""
        #expect(reason.contains("Prowlarr refused the API key (401)") && reason.contains("set api_key"), "\(reason)")
        #expect(prowlarr.queries.isEmpty)
        try await pipeline.stop()
    }

    @Test func anUnreleasedBookWaitsUnlessSearchedByHand() async throws {
        let prowlarr = try await ProwlarrStandIn()
        prowlarr.add(title: "Project Hail Mary by Andy Weir [ENG / M4B]", size: 1_073_741_824, seeders: 87)
        let pipeline = try await Self.pipeline(prowlarr)
        let tomorrow = ISO8601DateFormatter().string(from: Date().addingTimeInterval(2 * 86_400)).prefix(10)
        let book = #"{"title":"Project Hail Mary","author":"Andy Weir","release_date":"\#(tomorrow)"}"#
        let waiting = try await pipeline.ledger.create(title: "Project Hail Mary", author: "Andy Weir", status: .pending).id
        try await Self.search(pipeline, request: waiting, book: book)
        try await eventually("awaiting_release", every: .milliseconds(50)) {
            try await pipeline.requestRow(waiting).status == "awaiting_release"
        }
        #expect(prowlarr.queries.isEmpty, "no search before the release date")
        let manual = try await pipeline.ledger.create(title: "Project Hail Mary", author: "Andy Weir", status: .pending).id
        try await Self.search(pipeline, request: manual, book: book, manual: true)
        try await eventually("searched anyway", every: .milliseconds(50)) {
            try await pipeline.runtime.queues["download_torrent"]!.counts()[.waiting] == 1
        }
        try await pipeline.stop()
    }
}
