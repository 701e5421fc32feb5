import Foundation
import PipelineHost
import PipelineJSON
import Testing

/// The scheduled retries, run by a host: `retry_missing_torrents` (the
/// Prowlarr plugin) and `retry_failed_imports` (the organizer) pick their
/// requests through `find_requests` and hand each to the job that redoes it.
@Suite struct ScheduledRetryTests {
    static func pipeline(retryBatch: Int = 50, organizeConcurrency: Int = 0, library: String = "/nonexistent-library")
        async throws -> DownloadPipeline
    {
        try await DownloadPipeline(
            plugin: "libDownloadQBittorrent.so", config: #"url: "http://127.0.0.1:9""#,
            organizeConcurrency: organizeConcurrency, library: library,
            search: "url: \"http://127.0.0.1:9\", retry_batch: \(retryBatch)", searchConcurrency: 0,
            organizerConfig: "retry_batch: \(retryBatch)", retries: true)
    }

    static func run(_ type: String, in pipeline: DownloadPipeline) async throws -> JSONValue {
        let job = try await pipeline.runtime.enqueue(type, payloadJSON: "{}")
        let queue = try #require(pipeline.runtime.queues[type])
        try await eventually("\(type) done", every: .milliseconds(50)) {
            let state = try await queue.job(job)?.state
            if state == .failed { throw TestFailure("\(type) failed: \(try await queue.job(job)?.failedReason ?? "")") }
            return state == .completed
        }
        let text = try #require(try await queue.job(job)?.returnValue)
        return try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }

    /// The payloads of the jobs of `type` waiting in Redis, by job id.
    static func waiting(_ type: String, in pipeline: DownloadPipeline) async throws -> [String: JSONValue] {
        let queue = try #require(pipeline.runtime.queues[type])
        var found: [String: JSONValue] = [:]
        for id in try await queue.waitingJobIDs() {
            let job = try #require(try await queue.job(id))
            found[id] = try JSONDecoder().decode(JSONValue.self, from: Data(job.dataJSON.utf8))
        }
        return found
    }

    @Test func waitingRequestsAreSearchedAgainAndUnreleasedOnesWait() async throws {
        let pipeline = try await Self.pipeline()
        let ledger = pipeline.ledger
        let future = "2999-01-01"
        let nothingFound = try await ledger.create(
            NewRequest(title: "Piranesi", author: "Susanna Clarke", isbn: "9781635575637", narrator: "Chiwetel Ejiofor"),
            status: .awaitingSearch).id
        let releasedSince = try await ledger.create(
            NewRequest(title: "Tress of the Emerald Sea", author: "Brandon Sanderson", releaseDate: "2023-01-01"),
            status: .awaitingRelease).id
        let stillUnreleased = try await ledger.create(
            NewRequest(title: "Future Book", author: "Someone", releaseDate: future), status: .awaitingRelease).id
        let foundUnreleased = try await ledger.create(
            NewRequest(title: "Another Future Book", author: "Someone", releaseDate: future), status: .awaitingSearch).id
        let untouched = try await ledger.create(title: "Dune", author: "Frank Herbert", status: .downloading).id

        let result = try await Self.run("retry_missing_torrents", in: pipeline)
        #expect(result["searched"] == .int(2) && result["unreleased"] == .int(2))
        try await eventually("awaiting_release", every: .milliseconds(50)) {
            try await pipeline.requestRow(foundUnreleased).status == "awaiting_release"
        }
        #expect(try await pipeline.requestRow(stillUnreleased).status == "awaiting_release")
        #expect(try await pipeline.requestRow(untouched).status == "downloading")
        let searches = try await Self.waiting("search_indexers", in: pipeline)
        #expect(Set(searches.keys) == ["retry-search-\(nothingFound)-0", "retry-search-\(releasedSince)-0"])
        let piranesi = try #require(searches["retry-search-\(nothingFound)-0"])
        #expect(piranesi["request_id"]?.stringValue == nothingFound)
        #expect(piranesi["book"] == ["title": "Piranesi", "author": "Susanna Clarke", "isbn": "9781635575637", "narrator": "Chiwetel Ejiofor"])
        #expect(searches["retry-search-\(releasedSince)-0"]?["book"]?["release_date"] == "2023-01-01")

        // The schedule firing again before those searches ran adds none twice.
        _ = try await Self.run("retry_missing_torrents", in: pipeline)
        #expect(try await pipeline.runtime.queues["search_indexers"]!.waitingJobIDs().count == 2)
        try await pipeline.stop()
    }

    @Test func theRequestsSearchedLongestAgoComeFirstAndARunTakesAtMostTheBatch() async throws {
        let pipeline = try await Self.pipeline(retryBatch: 2)
        var ids: [String] = []
        for (index, hoursAgo) in [1, 48, 5].enumerated() {
            let id = try await pipeline.ledger.create(title: "Book \(index)", author: "A", status: .awaitingSearch).id
            try await pipeline.postgres.query(
                "UPDATE requests SET last_search_at = now() - make_interval(hours => $2::int) WHERE id = $1", [id, String(hoursAgo)])
            ids.append(id)
        }
        let never = try await pipeline.ledger.create(title: "Never searched", author: "A", status: .awaitingSearch).id
        _ = try await Self.run("retry_missing_torrents", in: pipeline)
        let searched = Set(try await Self.waiting("search_indexers", in: pipeline).values.compactMap { $0["request_id"]?.stringValue })
        #expect(searched == [never, ids[1]], "never searched, then 48 hours ago")
        try await pipeline.stop()
    }

    @Test func failedImportsAreImportedAgainFromTheRecordedDownload() async throws {
        let directory = try TemporaryDirectory()
        let library = directory.path + "/library"
        let download = directory.path + "/download/Emma (2019)"
        for path in [library, download] { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        let pipeline = try await Self.pipeline(organizeConcurrency: 1, library: library)
        let ledger = pipeline.ledger
        let emma = try await ledger.create(NewRequest(title: "Emma", author: "Jane Austen"), status: .processing).id
        try await ledger.transition(
            emma, to: .awaitingImport,
            update: RequestUpdate(
                reason: "no audiobook files found", download: .init(
                    client: "qbittorrent", clientID: "0123456789abcdef0123456789abcdef01234567", status: "completed",
                    releaseTitle: "Emma - Jane Austen [M4B]", savePath: download),
                countsImportAttempt: true, maxImportAttempts: 5))
        let noDownload = try await ledger.create(title: "Persuasion", author: "Jane Austen", status: .processing).id
        try await ledger.transition(noDownload, to: .awaitingImport, reason: "no audiobook files found")
        // Meanwhile the files arrived.
        try directory.write("download/Emma (2019)/Emma.m4b", "audio")

        let result = try await Self.run("retry_failed_imports", in: pipeline)
        #expect(result["retried"] == .int(1) && result["waiting"] == .int(2))
        try await eventually("imported", every: .milliseconds(50)) { try await pipeline.requestRow(emma).status == "downloaded" }
        #expect(FileManager.default.fileExists(atPath: library + "/Jane Austen/Emma/Emma.m4b"))
        #expect(try await pipeline.requestRow(noDownload).status == "awaiting_import")
        try await pipeline.stop()
    }
}
