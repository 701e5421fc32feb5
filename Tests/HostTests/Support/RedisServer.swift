import Foundation
import Synchronization
import Glibc
import PipelineHost
import Testing

/// A private redis-server for one test: its own port and directory, gone
/// when the value goes away. A machine without redis-server fails the test
/// (scripts/install-deps installs it).
final class RedisServer: @unchecked Sendable {
    private(set) var port: Int
    let directory: TemporaryDirectory
    let appendOnly: Bool
    private var process: ChildProcess?

    init(appendOnly: Bool = false) throws {
        port = try Self.freePort()
        directory = try TemporaryDirectory()
        self.appendOnly = appendOnly
        // A free port can be taken by another server between the probe and
        // redis-server's bind (tests start servers in parallel): try another.
        var attempt = 1
        while true {
            do {
                try start()
                return
            } catch where attempt < 3 {
                process?.kill()
                process = nil
                port = try Self.freePort()
                attempt += 1
            }
        }
    }

    deinit {
        process?.kill()
    }

    var url: String { "redis://127.0.0.1:\(port)" }

    func start() throws {
        let executable = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
        guard let executable else {
            throw TestFailure("redis-server is not installed; run scripts/install-deps")
        }
        process = try ChildProcess(
            executable,
            [
                "--port", String(port), "--bind", "127.0.0.1", "--dir", directory.path, "--save", "",
                "--appendonly", appendOnly ? "yes" : "no", "--appendfsync", "always", "--daemonize", "no",
            ], environment: [:], logFile: directory.path + "/redis.log")
        try waitUntilReady()
    }

    /// Stops the server the way an operator restarting it would (SHUTDOWN,
    /// which writes the append-only file first).
    func stop() async throws {
        _ = try? command(["SHUTDOWN"])
        try await process?.waitForExit()
        process = nil
    }

    private func waitUntilReady() throws {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if (try? command(["PING"])) == "+PONG" { return }
            if let process, !process.isRunning { break }  // it could not bind: no use waiting
            usleep(10_000)
        }
        throw TestFailure("redis-server on port \(port) did not answer within 10 s")
    }

    /// Sends one command with a raw RESP client and returns the first reply line.
    func command(_ arguments: [String]) throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw TestFailure("connect failed") }
        var request = "*\(arguments.count)\r\n"
        for argument in arguments { request += "$\(argument.utf8.count)\r\n\(argument)\r\n" }
        _ = request.withCString { send(fd, $0, strlen($0), 0) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(fd, &buffer, buffer.count, 0)
        guard count > 0 else { return "" }
        return String(decoding: buffer[0..<count], as: UTF8.self).components(separatedBy: "\r\n").first ?? ""
    }

    /// A free loopback port, never handed out twice in this process: tests
    /// start servers at once, and the kernel may offer a port again between
    /// one server's probe and its bind.
    static func freePort() throws -> Int {
        for _ in 0..<100 {
            let port = try kernelPort()
            if handedOut.withLock({ $0.insert(port).inserted }) { return port }
        }
        throw TestFailure("could not find a free port")
    }

    private static let handedOut = Mutex<Set<Int>>([])

    private static func kernelPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Int32 in
                guard bind(fd, pointer, length) == 0 else { return -1 }
                return getsockname(fd, pointer, &length)
            }
        }
        guard bound == 0 else { throw TestFailure("could not find a free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Waits until `condition` holds, checking every 20 ms, or fails after `timeout`.
func eventually(
    _ what: String, timeout: Duration = .seconds(30), every interval: Duration = .milliseconds(20),
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: interval)
    }
    throw TestFailure("timed out after \(timeout) waiting for: \(what)")
}
