import Foundation
import PipelineHost
import Testing

/// The history schema on a real PostgreSQL, a schema per test.
@Suite struct HistorySchemaTests {
    @Test func migrationsRunTwiceAreANoOp() async throws {
        let client = try await PostgresServer.start().client()
        #expect(try await Migrations.run(on: client) == [1, 2, 3, 4])
        #expect(try await Migrations.run(on: client) == [])
        let versions = try await client.query("SELECT version, name FROM schema_migrations")
        #expect(versions.count == 4)
        let tables = try await client.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name", [client.schema])
        #expect(tables.rows.compactMap { $0[0] } == [
            "download_history", "job_events", "jobs", "library_items", "release_blocklist", "requests", "scheduled_jobs",
            "schema_migrations",
        ])
    }

    @Test func concurrentMigrationsApplyOnce() async throws {
        let server = try await PostgresServer.start()
        let schema = "t_\(UUID().uuidString.prefix(8).lowercased())"
        async let first = Migrations.run(on: try server.client(schema: schema))
        async let second = Migrations.run(on: try server.client(schema: schema))
        let results = try await [first, second]
        #expect(results.flatMap { $0 } == [1, 2, 3, 4])
    }

    /// Text full of SQL and HTML metacharacters, stored and read back verbatim.
    static let hostile = #"Robert'); DROP TABLE requests;-- <script>alert("x")</script> \ % _ $1 ☃"#

    @Test func everyTableStoresAndReturnsTextVerbatim() async throws {
        let client = try await PostgresServer.start().client()
        try await Migrations.run(on: client)
        let text = Self.hostile
        try await client.query(
            "INSERT INTO requests (id, title, author, status) VALUES ($1, $2, $3, 'pending')", ["r1", text, text])
        try await client.query(
            "INSERT INTO jobs (job_type, job_id, request_id, status, payload, error_message) VALUES ($1, $2, $3, 'failed', $4::jsonb, $5)",
            ["work", "j1", "r1", #"{"title":"\#(text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\""))"}"#, text])
        try await client.query(
            "INSERT INTO job_events (job_type, job_id, run, sequence, level, context, message, metadata) VALUES ('work', 'j1', 1, 1, 'warn', $1, $2, '{}')",
            [text, text])
        try await client.query(
            "INSERT INTO scheduled_jobs (name, job_type, kind, expression) VALUES ($1, 'work', 'cron', '*/5 * * * *')", [text])
        try await client.query(
            "INSERT INTO download_history (request_id, client, client_id, release_title, status) VALUES ('r1', 'qbittorrent', $1, $1, 'downloading')", [text])
        try await client.query("INSERT INTO library_items (backend, item_id, title) VALUES ('plex', $1, $2)", [text, text])

        #expect(try await client.query("SELECT title, author FROM requests WHERE id = $1", ["r1"]).rows == [[text, text]])
        let job = try await client.query("SELECT error_message, payload->>'title' AS title FROM jobs WHERE job_id = 'j1'")
        #expect(job.rows == [[text, text]])
        #expect(try await client.query("SELECT context, message FROM job_events").rows == [[text, text]])
        #expect(try await client.query("SELECT name FROM scheduled_jobs").rows == [[text]])
        #expect(try await client.query("SELECT release_title FROM download_history").rows == [[text]])
        #expect(try await client.query("SELECT item_id, title FROM library_items").rows == [[text, text]])
        // A filter made of metacharacters matches only itself.
        #expect(try await client.query("SELECT count(*) FROM requests WHERE title = $1", [text]).rows == [["1"]])
        #expect(try await client.query("SELECT count(*) FROM requests").rows == [["1"]])
    }

    @Test func constraintsRefuseBadRowsWithTheirSQLState() async throws {
        let client = try await PostgresServer.start().client()
        try await Migrations.run(on: client)
        let error = await #expect(throws: PostgresError.self) {
            try await client.query("INSERT INTO jobs (job_type, job_id, status) VALUES ('w', '1', 'exploded')")
        }
        #expect(error?.sqlState == "23514")
        #expect(error?.isConnectionFailure == false)
    }

    @Test func anUnreachableServerIsAConnectionFailureWithoutThePassword() async throws {
        let client = try PostgresClient(
            url: "postgres://user:s3cret@127.0.0.1:\(try RedisServer.freePort())/db", schema: "x",
            executor: BlockingExecutor(threads: 1), logger: .silent)
        let error = await #expect(throws: PostgresError.self) { try await client.query("SELECT 1") }
        #expect(error?.isConnectionFailure == true)
        #expect(error?.description.contains("s3cret") == false)
    }
}
