import Foundation
import Logging
import PipelineHost
import PluginHTTP
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `pipeline-host run` as a systemd service: the test plays systemd's
/// notify socket (`NOTIFY_SOCKET`, a datagram socket) and the journal.
@Suite struct ServiceTests {
    /// A datagram socket bound at a path, as systemd's notify socket is;
    /// each message is handed on with the time it arrived.
    final class NotifySocket: @unchecked Sendable {
        let path: String
        let descriptor: Int32
        let messages: AsyncStream<(String, ContinuousClock.Instant)>
        private let thread: Thread

        init(path: String) throws {
            self.path = path
            let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
            guard fd >= 0 else { throw TestFailure("socket: errno \(errno)") }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8) + [0]) }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard bound == 0 else { throw TestFailure("bind \(path): errno \(errno)") }
            descriptor = fd
            let (stream, continuation) = AsyncStream.makeStream(of: (String, ContinuousClock.Instant).self)
            messages = stream
            let descriptor = fd
            thread = Thread {
                var buffer = [UInt8](repeating: 0, count: 4096)
                while true {
                    let count = recv(descriptor, &buffer, buffer.count, 0)
                    guard count > 0 else { break }
                    continuation.yield((String(decoding: buffer[..<count], as: UTF8.self), .now))
                }
                continuation.finish()
            }
            thread.start()
        }

        func close() {
            shutdown(descriptor, Int32(SHUT_RDWR))
            Glibc.close(descriptor)
        }
    }

    /// A host with the admin API on, under "systemd".
    static func pipeline(_ directory: TemporaryDirectory, redis: RedisServer, postgres: PostgresServer, port: Int) throws -> String {
        try directory.write(
            "pipeline.yaml",
            """
            redis: {url: "\(redis.url)", prefix: t\(UUID().uuidString.prefix(8).lowercased())}
            postgres: {url: "\(postgres.url)", schema: t_\(UUID().uuidString.prefix(8).lowercased())}
            admin: {listen: "127.0.0.1:\(port)", token: "service-test-token-0123456789"}
            queue: {drain_delay: 1s}
            plugins:
              probe: {path: libFixtureCEcho.so}
            jobs:
              work: {plugin: probe}
            """)
    }

    @Test func readyOnlyOnceTheAdminAPIAnswersThenWatchdogPingsAndStoppingOnSIGTERM() async throws {
        let directory = try TemporaryDirectory()
        let redis = try RedisServer()
        let postgres = try await PostgresServer.start()
        let port = try RedisServer.freePort()
        let file = try Self.pipeline(directory, redis: redis, postgres: postgres, port: port)
        let socket = try NotifySocket(path: directory.path + "/notify")
        defer { socket.close() }
        let watchdog = Duration.milliseconds(800)
        let host = try HostProcess(
            config: file, hostID: "unit", directory: directory,
            environment: ["NOTIFY_SOCKET": socket.path, "WATCHDOG_USEC": "800000"])
        var messages = socket.messages.makeAsyncIterator()
        let http = HTTPClient(timeout: .seconds(2))

        // READY=1 comes first, and by then the admin API answers.
        let (first, readyAt) = try #require(await messages.next())
        #expect(first.split(separator: "\n").first == "READY=1", "\(first)")
        #expect(first.contains("STATUS="), "a status line for systemctl status: \(first)")
        let health = try await http.send(HTTPRequest(url: URL(string: "http://127.0.0.1:\(port)/healthz")!))
        #expect(health.status == 200, "the admin API answered before READY=1")

        // Then a ping every half WATCHDOG_USEC.
        var last = readyAt
        for _ in 0..<5 {
            let (message, at) = try #require(await messages.next())
            #expect(message == "WATCHDOG=1")
            #expect(at - last < watchdog, "pinged within WATCHDOG_USEC: \(at - last)")
            last = at
        }

        // SIGTERM: STOPPING=1, then a clean exit.
        host.terminate()
        var stopping = false
        while let entry = await messages.next() {
            let message = entry.0
            if message.hasPrefix("STOPPING=1") {
                stopping = true
                break
            }
            #expect(message == "WATCHDOG=1", "\(message)")
        }
        #expect(stopping)
        #expect(try await host.exitCode() == 0, "\(host.output)")
    }

    /// `--log-format json`: one object per line with time, level, message,
    /// and a job's type and id at the top level. Writing to the journal
    /// (`JOURNAL_STREAM` names standard error), plain lines without a time.
    @Test func logsAreJSONLinesOrPlainJournalLines() async throws {
        let directory = try TemporaryDirectory()
        let redis = try RedisServer()
        let postgres = try await PostgresServer.start()
        let file = try Self.pipeline(directory, redis: redis, postgres: postgres, port: try RedisServer.freePort())
        let json = try HostProcess(config: file, hostID: "json", directory: directory, arguments: ["--log-format", "json"])
        try await eventually("the admin API listens", timeout: .seconds(30)) { json.output.contains("admin API listening") }
        json.terminate()
        #expect(try await json.exitCode() == 0)
        let lines = json.output.split(separator: "\n")
        #expect(lines.count >= 2)
        for line in lines {
            let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
            #expect(object?["time"] is String && object?["level"] is String && object?["message"] is String, "\(line)")
        }

        // The journal: its log file is standard error, named by device and inode.
        let log = directory.path + "/journal.log"
        FileManager.default.createFile(atPath: log, contents: nil)
        var info = stat()
        #expect(stat(log, &info) == 0)
        let journal = try HostProcess(
            config: file, hostID: "journal", directory: directory, environment: ["JOURNAL_STREAM": "\(info.st_dev):\(info.st_ino)"])
        try await eventually("the admin API listens", timeout: .seconds(30)) { journal.output.contains("admin API listening") }
        journal.terminate()
        #expect(try await journal.exitCode() == 0)
        let listening = try #require(journal.output.split(separator: "\n").first { $0.contains("admin API listening") })
        #expect(listening.hasPrefix("info pipeline-host: admin API listening"), "no time: the journal adds it: \(listening)")
    }

    @Test func aJSONLineCarriesTheJobAndEscapesWhatALineMustNotHold() throws {
        let handler = LineLogHandler(label: "pipeline-host", style: .json)
        let line = handler.format(
            level: .warning, message: "a \"quoted\" name\nwith a newline",
            metadata: ["job_type": "organize_files", "job_id": "42", "request_id": "r-1", "plugin": "organizer", "path": "/dl/x"],
            time: Date(timeIntervalSince1970: 1_800_000_000.5))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["time"] as? String == "2027-01-15T08:00:00.500Z")
        #expect(object["level"] as? String == "warning" && object["job_type"] as? String == "organize_files")
        #expect(object["job_id"] as? String == "42" && object["request"] as? String == "r-1" && object["plugin"] as? String == "organizer")
        #expect((object["metadata"] as? [String: String]) == ["path": "/dl/x"])
        #expect(!line.contains("\n") && object["message"] as? String == "a \"quoted\" name\nwith a newline", "one line, the text intact")
        // Through the escaping handler, a raw control character never reaches a line.
        #expect(EscapingLogHandler.escape("evil\n{\"level\":\"forged\"}\u{1B}[2J") == "evil\\n{\"level\":\"forged\"}\\u{1B}[2J")
    }
}
