/// The history schema's versions, applied in order, each at most once; all
/// pending ones in one transaction, so a failure leaves the schema as it was. `pipeline-host migrate` runs them, and so
/// does the host at start. Never edit a published migration: add the next.
public enum Migrations {
    public struct Migration: Sendable {
        public var version: Int
        public var name: String
        public var statements: [String]
    }

    public static let all: [Migration] = [
        Migration(
            version: 1, name: "history, requests, schedules, downloads, library",
            statements: [
                """
                CREATE TABLE jobs (
                    job_type      text        NOT NULL,
                    job_id        text        NOT NULL,
                    request_id    text,
                    status        text        NOT NULL CHECK (status IN
                                    ('pending', 'delayed', 'active', 'completed', 'failed', 'stuck', 'cancelled')),
                    attempts      integer     NOT NULL DEFAULT 0,
                    max_attempts  integer,
                    priority      integer     NOT NULL DEFAULT 0,
                    payload       jsonb,
                    result        jsonb,
                    error_message text,
                    error_stack   text,
                    host          text,
                    created_at    timestamptz NOT NULL DEFAULT now(),
                    started_at    timestamptz,
                    completed_at  timestamptz,
                    updated_at    timestamptz NOT NULL DEFAULT now(),
                    -- The (run, rank) of the last state written: a redelivered or
                    -- late write with a lower pair changes nothing.
                    last_run      integer     NOT NULL DEFAULT 0,
                    last_rank     integer     NOT NULL DEFAULT 0,
                    PRIMARY KEY (job_type, job_id)
                )
                """,
                "CREATE INDEX jobs_status_updated ON jobs (status, updated_at DESC)",
                "CREATE INDEX jobs_request ON jobs (request_id) WHERE request_id IS NOT NULL",
                """
                CREATE TABLE job_events (
                    id         bigserial   PRIMARY KEY,
                    job_type   text        NOT NULL,
                    job_id     text        NOT NULL,
                    run        integer     NOT NULL,
                    sequence   integer     NOT NULL,
                    level      text        NOT NULL CHECK (level IN ('info', 'warn', 'error')),
                    context    text        NOT NULL,
                    message    text        NOT NULL,
                    metadata   jsonb,
                    created_at timestamptz NOT NULL DEFAULT now(),
                    -- One row per event of one run, however often a batch is retried.
                    UNIQUE (job_type, job_id, run, sequence)
                )
                """,
                "CREATE INDEX job_events_job ON job_events (job_type, job_id, id)",
                """
                CREATE TABLE scheduled_jobs (
                    name            text        PRIMARY KEY,
                    job_type        text        NOT NULL,
                    kind            text        NOT NULL CHECK (kind IN ('cron', 'every')),
                    expression      text        NOT NULL,
                    enabled         boolean     NOT NULL DEFAULT true,
                    payload         jsonb       NOT NULL DEFAULT '{}',
                    last_run_at     timestamptz,
                    last_run_job_id text,
                    next_run_at     timestamptz,
                    updated_at      timestamptz NOT NULL DEFAULT now()
                )
                """,
                """
                CREATE TABLE requests (
                    id              text        PRIMARY KEY,
                    title           text        NOT NULL,
                    author          text        NOT NULL DEFAULT '',
                    asin            text,
                    isbn            text,
                    narrator        text,
                    series          text,
                    series_part     text,
                    release_date    date,
                    status          text        NOT NULL,
                    status_reason   text,
                    progress        double precision NOT NULL DEFAULT 0,
                    search_attempts integer     NOT NULL DEFAULT 0,
                    import_attempts integer     NOT NULL DEFAULT 0,
                    last_search_at  timestamptz,
                    last_import_at  timestamptz,
                    created_at      timestamptz NOT NULL DEFAULT now(),
                    updated_at      timestamptz NOT NULL DEFAULT now()
                )
                """,
                "CREATE INDEX requests_status ON requests (status, updated_at)",
                """
                CREATE TABLE download_history (
                    id            bigserial   PRIMARY KEY,
                    request_id    text        NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
                    client        text        NOT NULL,
                    client_id     text,
                    release_title text        NOT NULL,
                    size_bytes    bigint,
                    source_url    text,
                    status        text        NOT NULL,
                    save_path     text,
                    created_at    timestamptz NOT NULL DEFAULT now(),
                    completed_at  timestamptz
                )
                """,
                "CREATE INDEX download_history_request ON download_history (request_id)",
                """
                CREATE TABLE library_items (
                    backend    text        NOT NULL,
                    item_id    text        NOT NULL,
                    title      text        NOT NULL,
                    author     text        NOT NULL DEFAULT '',
                    asin       text,
                    isbn       text,
                    path       text,
                    added_at   timestamptz,
                    seen_at    timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (backend, item_id)
                )
                """,
                "CREATE INDEX library_items_asin ON library_items (asin) WHERE asin IS NOT NULL",
            ]),
        Migration(
            version: 2, name: "one download_history row per (request, client, client id), with its error",
            statements: [
                "ALTER TABLE download_history ADD COLUMN error text",
                "ALTER TABLE download_history ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now()",
                "UPDATE download_history SET client_id = 'row-' || id WHERE client_id IS NULL",
                "ALTER TABLE download_history ALTER COLUMN client_id SET NOT NULL",
                "CREATE UNIQUE INDEX download_history_download ON download_history (request_id, client, client_id)",
            ]),
        Migration(
            version: 3, name: "download_history records the download_clients instance that has each download",
            statements: [
                "ALTER TABLE download_history ADD COLUMN client_instance text",
            ]),
        Migration(
            version: 4, name: "releases blocklisted per request; the indexer of each download",
            statements: [
                """
                CREATE TABLE release_blocklist (
                    id            bigserial   PRIMARY KEY,
                    request_id    text        NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
                    release_title text        NOT NULL,
                    release_id    text,
                    indexer       text,
                    protocol      text,
                    reason        text        NOT NULL,
                    created_at    timestamptz NOT NULL DEFAULT now()
                )
                """,
                """
                CREATE UNIQUE INDEX release_blocklist_release
                    ON release_blocklist (request_id, lower(release_title), COALESCE(release_id, ''))
                """,
                "ALTER TABLE download_history ADD COLUMN indexer text",
            ]),
    ]

    /// Applies the migrations the schema lacks, in order, and returns the
    /// versions applied. Safe to run from several hosts at once: an advisory
    /// lock lets one migrate while the others wait, then find nothing to do.
    @discardableResult
    public static func run(on client: PostgresClient) async throws(PostgresError) -> [Int] {
        let schema = PostgresConnection.quoted(client.schema)
        return try await client.transaction { transaction throws(PostgresError) in
            try transaction.execute("SELECT pg_advisory_xact_lock(hashtext($1))", ["pipeline-host migrations " + client.schema])
            try transaction.execute("CREATE SCHEMA IF NOT EXISTS \(schema)")
            try transaction.execute("SET LOCAL search_path TO \(schema)")
            try transaction.execute(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())
                """)
            let applied = Set(try transaction.execute("SELECT version FROM schema_migrations").rows.compactMap { $0[0].flatMap(Int.init) })
            var done: [Int] = []
            for migration in all where !applied.contains(migration.version) {
                for statement in migration.statements { try transaction.execute(statement) }
                try transaction.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", [String(migration.version), migration.name])
                done.append(migration.version)
            }
            return done
        }
    }
}
