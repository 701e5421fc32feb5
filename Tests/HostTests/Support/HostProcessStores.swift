import Foundation
import PipelineHost

/// What tests that run `pipeline-host run` processes share with those
/// hosts: a Redis server, a PostgreSQL schema and a key prefix of the test's
/// own, and a folder for the configuration, logs and library.
struct HostProcessStores {
    let redis: RedisServer
    let server: PostgresServer
    let schema: String
    let prefix: String
    let postgres: PostgresClient
    let directory: TemporaryDirectory
    /// An empty library folder inside ``directory``.
    let library: String

    init() async throws {
        redis = try RedisServer()
        server = try await PostgresServer.start()
        schema = "t_\(UUID().uuidString.prefix(8).lowercased())"
        prefix = "t\(UUID().uuidString.prefix(8).lowercased())"
        postgres = try server.client(schema: schema)
        directory = try TemporaryDirectory()
        library = directory.path + "/library"
        try FileManager.default.createDirectory(atPath: library, withIntermediateDirectories: true)
    }

    /// The `redis` and `postgres` lines of a pipeline.yaml.
    var storesYAML: String {
        """
        redis: {url: "\(redis.url)", prefix: \(prefix)}
        postgres: {url: "\(server.url)", schema: \(schema)}
        """
    }

    /// A queue client on the test's prefix.
    func queue(_ jobType: String) throws -> JobQueue {
        JobQueue(name: jobType, prefix: prefix, client: try testClient(redis))
    }

    /// Waits until a host has migrated the schema; when it does not, the
    /// failure shows what `host` printed.
    func waitForSchema(_ host: HostProcess? = nil) async throws {
        do {
            try await eventually("schema ready", timeout: .seconds(30)) { (try? await postgres.query("SELECT count(*) FROM requests")) != nil }
        } catch {
            throw TestFailure("\(error); the host printed:\n\(host?.output ?? "(no host given)")")
        }
    }
}

/// A book seeded on loopback: its files and .torrent, a tracker that serves
/// it, a Transmission seeding it (in the swarm already, since Transmission
/// never dials a loopback peer), and a qBittorrent to download it.
struct SeededBook {
    let tracker: OpenTracker
    let fixture: TorrentFixture
    let seeder: TransmissionDaemon
    let client: QBittorrentDaemon

    init(sizes: [Int], in directory: TemporaryDirectory) async throws {
        tracker = try await OpenTracker()
        fixture = try await TorrentFixture(in: directory, sizes: sizes, tracker: tracker.announce)
        try tracker.allow(fixture.infoHash)
        seeder = try await TransmissionDaemon()
        try await seeder.add(fixture, downloadDir: fixture.parent)
        try await RealTransferTests.waitForAnnounce(seeder, fixture.infoHash)
        client = try await QBittorrentDaemon()
    }

    /// The download-client plugin's config for ``client`` (YAML flow members), polling fast.
    func clientConfig(indexerAPIKey: String, indexerURL: String) -> String {
        #"url: "\#(client.url)", username: admin, password: "\#(client.password)", save_path: "\#(client.downloads)", indexer_api_key: \#(indexerAPIKey), indexer_url: "\#(indexerURL)", poll_interval: 500ms, max_poll_interval: 2s, first_poll_delay: 200ms"#
    }
}
