import Foundation
import Glibc

/// HTTP/1.1 over a plain socket, for what URLSession will not send: a Host
/// header of the test's choosing, a request left unfinished, a connection
/// held open. Blocking calls: run them with ``onOwnThread(_:)``.
final class RawConnection: @unchecked Sendable {
    let fd: Int32

    /// Connects to 127.0.0.1:`port`.
    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            // No close here: the instance is fully initialised, so deinit
            // runs when init throws and closes fd. Closing it here too closed
            // a number another thread had been given meanwhile (a Redis or
            // runner socket of a test running beside this one).
            throw TestFailure("cannot connect to 127.0.0.1:\(port): \(String(cString: strerror(errno)))")
        }
    }

    deinit { close(fd) }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { throw TestFailure("send failed: \(String(cString: strerror(errno)))") }
            sent += count
        }
    }

    /// What arrives until the peer closes or `timeout` passes; `closed` says which.
    func readUntilClosed(timeout: Duration) -> (text: String, closed: Bool) {
        var data = [UInt8]()
        let deadline = ContinuousClock.now + timeout
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return (String(decoding: data, as: UTF8.self), false) }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(max(1, left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000)))
            if ready <= 0 { continue }
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { return (String(decoding: data, as: UTF8.self), true) }
            data += buffer[0..<count]
        }
    }

    /// One complete answer to a request sent with `Connection: close`.
    func response(timeout: Duration = .seconds(10)) throws -> RawResponse {
        let (text, closed) = readUntilClosed(timeout: timeout)
        guard closed else { throw TestFailure("no complete answer within \(timeout): \(text.prefix(200))") }
        return try RawResponse(text)
    }

    /// Whether an answer's first bytes arrive within `timeout`.
    func answers(within timeout: Duration) -> Bool {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&poller, 1, Int32(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)) > 0
    }
}

/// An HTTP answer, split into status, headers and body.
struct RawResponse {
    var status: Int
    var headers: [String: String]
    var body: String

    init(_ text: String) throws {
        guard let end = text.range(of: "\r\n\r\n") else { throw TestFailure("not an HTTP answer: \(text.prefix(200))") }
        let lines = text[..<end.lowerBound].components(separatedBy: "\r\n")
        guard let first = lines.first, first.hasPrefix("HTTP/1."), let code = Int(first.split(separator: " ")[1]) else {
            throw TestFailure("not an HTTP status line: \(lines.first ?? "")")
        }
        status = code
        headers = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        body = String(text[end.upperBound...])
    }
}

/// Sends one request and reads its answer (`Connection: close`), on a thread of its own.
func rawRequest(
    port: Int, _ method: String, _ path: String, host: String? = nil, headers: [String: String] = [:], body: String = ""
) async throws -> RawResponse {
    try await onOwnThread {
        let connection = try RawConnection(port: port)
        var text = "\(method) \(path) HTTP/1.1\r\nHost: \(host ?? "127.0.0.1:\(port)")\r\nConnection: close\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        if !body.isEmpty || method == "POST" { text += "Content-Length: \(body.utf8.count)\r\n" }
        try connection.send(text + "\r\n" + body)
        return try connection.response()
    }
}
