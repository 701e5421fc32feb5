import Foundation
import PipelineHost
import Testing

/// What a transition's details carry besides the move: progress, a download
/// record, an import attempt; on a real PostgreSQL.
@Suite struct RequestUpdateTests {
    @Test func malformedDetailsAreRefusedNamingTheKey() {
        let cases: [(String, String)] = [
            (#"{"progress":"half"}"#, "details.progress has the wrong type"),
            (#"{"progress":140}"#, "details.progress must be from 0 to 100"),
            (#"{"download":{"client":"qbittorrent","status":"downloading"}}"#, "details.download.client_id is required"),
            (#"{"download":{"client":"qbittorrent","client_id":"h","status":"done"}}"#, "details.download.status must be one of"),
            (#"{"download":{"client":"","client_id":"h","status":"failed"}}"#, "must not be empty"),
            (#"{"import_attempt":"yes"}"#, "details.import_attempt has the wrong type"),
            ("[1]", "details must be a JSON object"),
        ]
        for (json, expected) in cases {
            #expect {
                _ = try RequestUpdate(detailsJSON: json)
            } throws: { error in
                String(describing: error).contains(expected)
            }
        }
        #expect(throws: Never.self) { try RequestUpdate(detailsJSON: #"{"reason":"x","other":{"kept":"out"}}"#) }
    }

    @Test func progressAndDownloadApplyWithoutAMoveAndNothingAppliesToARefusedOne() async throws {
        let client = try await PostgresServer.start().client()
        try await Migrations.run(on: client)
        let ledger = RequestLedger(client: client)
        let id = try await ledger.create(title: "Emma", author: "Jane Austen", status: .searching).id
        func download(_ status: String, path: String? = nil) -> DownloadRecord {
            DownloadRecord(
                client: "qbittorrent", clientID: "abc", status: status, releaseTitle: path == nil ? "Emma [M4B]" : nil,
                sizeBytes: path == nil ? 1234 : nil, savePath: path)
        }
        try await ledger.transition(id, to: .downloading, update: RequestUpdate(progress: 0, download: download("downloading")))
        try await ledger.transition(id, to: .downloading, update: RequestUpdate(progress: 42))
        #expect(try await ledger.request(id)?.progress == 42, "progress applies when the status stays")
        try await ledger.transition(id, to: .downloading, update: RequestUpdate(progress: 100, download: download("completed", path: "/lib/in/Emma")))
        let rows = try await client.query(
            "SELECT client, client_id, status, release_title, size_bytes, save_path, completed_at IS NOT NULL FROM download_history"
        ).rows
        #expect(rows == [["qbittorrent", "abc", "completed", "Emma [M4B]", "1234", "/lib/in/Emma", "t"]], "one row, filled in")

        try await ledger.transition(id, to: .cancelled)
        await #expect(throws: RequestLedgerError.self) {
            try await ledger.transition(id, to: .downloading, update: RequestUpdate(progress: 7, download: download("failed")))
        }
        #expect(try await ledger.request(id)?.progress == 100)
        #expect(try await client.query("SELECT status FROM download_history").rows == [["completed"]])
    }

    @Test func anImportAttemptCounts() async throws {
        let client = try await PostgresServer.start().client()
        try await Migrations.run(on: client)
        let ledger = RequestLedger(client: client)
        let id = try await ledger.create(title: "Emma", author: "Jane Austen", status: .processing).id
        try await ledger.transition(id, to: .awaitingImport, update: RequestUpdate(reason: "no audio files", countsImportAttempt: true))
        try await ledger.transition(id, to: .processing)
        try await ledger.transition(id, to: .awaitingImport, update: RequestUpdate(countsImportAttempt: true))
        #expect(try await client.query("SELECT import_attempts, last_import_at IS NOT NULL FROM requests").rows == [["2", "t"]])
    }
}
