import Foundation
import Glibc
import Logging
import PipelineHost

/// A private PostgreSQL cluster for the whole test process (initdb in a
/// temporary directory, a free loopback port), started on first use. Each
/// test takes a schema of its own. When running as root, PostgreSQL runs as
/// the `postgres` user (it refuses root). A machine without PostgreSQL fails
/// the tests that need it (scripts/install-deps installs it).
final class PostgresServer: @unchecked Sendable {
    let port: Int
    let directory: String
    private(set) var child: ChildProcess?
    private let binaries: String
    private let runAs: [String]

    /// The shared cluster's start, begun by the first test that asks. initdb
    /// and the wait for the server run on a thread of their own: a test
    /// waiting for them suspends and never blocks the two threads of the
    /// cooperative pool, which would stall every other test meanwhile (their
    /// servers' start-up deadlines ran out behind a slow initdb).
    private static let launch = Task<PostgresServer, any Error> {
        let server = try await onOwnThread { try PostgresServer(durable: false) }
        try server.stopWhenThisProcessEnds()
        return server
    }

    static func start() async throws -> PostgresServer { try await launch.value }

    /// A durable cluster of its own, for a test that stops and starts it: an
    /// immediate stop is a crash, and without fsync and synchronous commits a
    /// crash loses the last commits by design.
    static func dedicated() async throws -> PostgresServer { try await onOwnThread { try PostgresServer(durable: true) } }

    /// ``start()`` of this cluster (again), off the cooperative pool.
    func restart() async throws {
        try await onOwnThread { try self.start() }
    }

    /// ``stop()``, off the cooperative pool.
    func halt() async {
        _ = try? await onOwnThread { self.stop() }
    }

    /// The shared cluster is a static, never deinitialised: a small watcher
    /// process stops it and removes its files once the test process is gone,
    /// however it ends (killed by a timeout included).
    private func stopWhenThisProcessEnds() throws {
        let stop = (runAs + ["\(binaries)/pg_ctl", "-D", "\(directory)/data", "-m", "immediate", "-w", "stop"])
            .map { "'\($0)'" }.joined(separator: " ")
        let script = "while kill -0 \(getpid()) 2>/dev/null; do sleep 1; done; \(stop) >/dev/null 2>&1; rm -rf '\(directory)'"
        watcher = try ChildProcess("/bin/sh", ["-c", script], environment: ["PATH": "/usr/bin:/bin"], logFile: "/dev/null")
    }

    private var watcher: ChildProcess?

    /// Whether commits survive a crash (slower); the shared cluster trades that for speed.
    let durable: Bool

    private init(durable: Bool) throws {
        self.durable = durable
        let roots = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        guard let version = roots.compactMap(Int.init).max() else {
            throw TestFailure("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin); run scripts/install-deps")
        }
        binaries = "/usr/lib/postgresql/\(version)/bin"
        runAs = getuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--"] : []
        port = try RedisServer.freePort()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("pipeline-pg-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if getuid() == 0 {
            try FileManager.default.setAttributes([.ownerAccountName: "postgres"], ofItemAtPath: directory)
        }
        let initdb = Process()
        initdb.executableURL = URL(fileURLWithPath: runAs.first ?? "\(binaries)/initdb")
        initdb.arguments = Array(runAs.dropFirst()) + (runAs.isEmpty ? [] : ["\(binaries)/initdb"])
            + ["-D", "\(directory)/data", "-A", "trust", "-U", "pipeline", "--no-sync", "-E", "UTF8"]
        initdb.standardOutput = FileHandle.nullDevice
        initdb.standardError = FileHandle.nullDevice
        try initdb.run()
        initdb.waitUntilExit()
        guard initdb.terminationStatus == 0 else { throw TestFailure("initdb failed in \(directory)") }
        try start()
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Starts the server (again, after ``stop()``) and waits until it answers.
    func start() throws {
        let speed = durable ? [] : ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        let arguments = Array(runAs.dropFirst()) + (runAs.isEmpty ? [] : ["\(binaries)/postgres"]) + [
            "-D", "\(directory)/data", "-p", String(port), "-k", directory, "-c", "listen_addresses=127.0.0.1",
            "-c", "max_connections=200",
        ] + speed
        child = try ChildProcess(runAs.first ?? "\(binaries)/postgres", arguments, environment: [:], logFile: "/dev/null")
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if let connection = try? Self.probe(url) { _ = connection; return }
            usleep(50_000)
        }
        throw TestFailure("PostgreSQL on port \(port) did not answer within 20 s")
    }

    /// Stops the server at once, as a crash or an outage would (immediate
    /// shutdown: every connection drops).
    func stop() {
        let pgctl = Process()
        pgctl.executableURL = URL(fileURLWithPath: runAs.first ?? "\(binaries)/pg_ctl")
        pgctl.arguments = Array(runAs.dropFirst()) + (runAs.isEmpty ? [] : ["\(binaries)/pg_ctl"])
            + ["-D", "\(directory)/data", "-m", "immediate", "-w", "stop"]
        pgctl.standardOutput = FileHandle.nullDevice
        pgctl.standardError = FileHandle.nullDevice
        try? pgctl.run()
        pgctl.waitUntilExit()
        child?.kill()
        child = nil
    }

    var url: String { "postgres://pipeline@127.0.0.1:\(port)/postgres" }

    private static func probe(_ url: String) throws -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
        process.arguments = [url, "-qAtc", "select 1"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw TestFailure("not ready") }
        return true
    }

    /// A client on a schema of its own, for one test.
    func client(schema: String = "t_\(UUID().uuidString.prefix(8).lowercased())") throws -> PostgresClient {
        try PostgresClient(url: url, schema: schema, executor: BlockingExecutor(threads: 4), logger: .silent)
    }
}
