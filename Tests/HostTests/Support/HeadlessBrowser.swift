import Foundation
import Synchronization
import PipelineJSON
import Glibc

/// Headless Chromium driven through chromedriver's WebDriver protocol (plain
/// HTTP and JSON): Debian's `chromium` and `chromium-driver`. Screenshots go
/// to `.build/test-screenshots/<name>/`, and their paths are printed with the
/// test output.
final class HeadlessBrowser: @unchecked Sendable {
    private let driver: Process
    private let directory: TemporaryDirectory
    private let base: String
    private let session: String
    let screenshots: String
    private var shot = 0

    init(name: String) async throws {
        directory = try TemporaryDirectory()
        let port = try RedisServer.freePort()
        driver = Process()
        driver.executableURL = URL(fileURLWithPath: try BitTorrentTools.executable("chromedriver"))
        driver.arguments = ["--port=\(port)", "--allowed-ips=127.0.0.1"]
        driver.environment = ["HOME": directory.path, "PATH": "/usr/bin:/bin"]
        FileManager.default.createFile(atPath: directory.path + "/chromedriver.log", contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: directory.path + "/chromedriver.log"))
        driver.standardOutput = log
        driver.standardError = log
        driver.standardInput = FileHandle.nullDevice
        try driver.run()
        let base = "http://127.0.0.1:\(port)"
        self.base = base
        do {
            try await eventually("chromedriver answers", timeout: .seconds(20), every: .milliseconds(50)) {
                (try? await LoopbackHTTP.send("GET", base + "/status", body: nil)) != nil
            }
        } catch {
            let log = (try? String(contentsOfFile: directory.path + "/chromedriver.log", encoding: .utf8)) ?? ""
            throw TestFailure("\(error); its log: \(log)")
        }
        let chromium = try BitTorrentTools.executable("chromium")
        let capabilities: JSONValue = [
            "capabilities": [
                "alwaysMatch": [
                    "browserName": "chrome",
                    "goog:chromeOptions": [
                        "binary": .string(chromium),
                        "args": [
                            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900",
                            .string("--user-data-dir=\(directory.path)/profile"),
                        ],
                    ],
                ]
            ]
        ]
        let created = try await Self.call("POST", base + "/session", capabilities)
        guard let id = created["sessionId"]?.stringValue else { throw TestFailure("chromedriver gave no session: \(created)") }
        session = id
        screenshots = packageRoot + "/.build/test-screenshots/" + name
        try? FileManager.default.removeItem(atPath: screenshots)
        try FileManager.default.createDirectory(atPath: screenshots, withIntermediateDirectories: true)
    }

    /// A test that failed before ``quit()`` still ends the browser: the
    /// session is deleted (chromedriver then stops Chromium) before the driver.
    deinit {
        if driver.isRunning {
            let url = URL(string: base + "/session/" + session)!
            LoopbackHTTP.sendBlocking("DELETE", url)
            // chromedriver does not stop on SIGTERM.
            kill(driver.processIdentifier, SIGKILL)
        }
    }

    func quit() async {
        _ = try? await Self.call("DELETE", base + "/session/\(session)", nil)
        if driver.isRunning { kill(driver.processIdentifier, SIGKILL) }
    }

    func open(_ url: String) async throws {
        _ = try await command("POST", "/url", ["url": .string(url)])
    }

    var currentURL: String {
        get async throws { try await command("GET", "/url", nil).stringValue ?? "" }
    }

    /// The element `css` selects, waiting for it to appear.
    func element(_ css: String, timeout: Duration = .seconds(15)) async throws -> String {
        var found: String?
        var lastError = ""
        do {
            try await eventually("element \(css)", timeout: timeout, every: .milliseconds(100)) {
                do {
                    let answer = try await self.command("POST", "/element", ["using": "css selector", "value": .string(css)])
                    found = answer["element-6066-11e4-a52e-4f735466cecf"]?.stringValue ?? answer["ELEMENT"]?.stringValue
                    if found == nil { lastError = "answer \(answer)" }
                } catch {
                    lastError = "\(error)"
                }
                return found != nil
            }
        } catch {
            throw TestFailure("\(error): \(lastError); the page is \((try? await currentURL) ?? "?")")
        }
        return found!
    }

    func click(_ css: String) async throws {
        let id = try await element(css)
        _ = try await command("POST", "/element/\(id)/click", [:])
    }

    func type(_ css: String, _ text: String) async throws {
        let id = try await element(css)
        _ = try await command("POST", "/element/\(id)/clear", [:])
        _ = try await command("POST", "/element/\(id)/value", ["text": .string(text)])
    }

    /// The visible text of the element `css` selects. A live region may
    /// replace the element between finding it and reading it (it refreshes
    /// every two seconds): then it is found again.
    func text(_ css: String) async throws -> String {
        for attempt in 1...5 {
            let id = try await element(css)
            do {
                return try await command("GET", "/element/\(id)/text", nil).stringValue ?? ""
            } catch where "\(error)".contains("stale element") && attempt < 5 {
                continue
            }
        }
        return ""
    }

    /// Runs `script` in the page and returns its value.
    @discardableResult
    func script(_ script: String) async throws -> JSONValue {
        try await command("POST", "/execute/sync", ["script": .string(script), "args": []])
    }

    /// Saves a screenshot as `<n>-<name>.png` and prints where.
    @discardableResult
    func screenshot(_ name: String) async throws -> String {
        let encoded = try await command("GET", "/screenshot", nil).stringValue ?? ""
        guard let png = Data(base64Encoded: encoded) else { throw TestFailure("chromedriver sent no screenshot") }
        shot += 1
        let path = screenshots + String(format: "/%02d-", shot) + name + ".png"
        try png.write(to: URL(fileURLWithPath: path))
        print("screenshot: \(path)")
        return path
    }

    private func command(_ method: String, _ path: String, _ body: JSONValue?) async throws -> JSONValue {
        try await Self.call(method, base + "/session/\(session)" + path, body)
    }

    private static func call(_ method: String, _ url: String, _ body: JSONValue?) async throws -> JSONValue {
        let data = try body.map { try JSONEncoder().encode($0) }
        let (status, responseBody) = try await LoopbackHTTP.send(method, url, body: data)
        let answer = try JSONDecoder().decode(JSONValue.self, from: responseBody)
        guard (200..<300).contains(status) else {
            throw TestFailure(
                "WebDriver \(method) \(url): \(status) \(answer["value"]?["message"]?.stringValue ?? String(decoding: responseBody, as: UTF8.self))")
        }
        return answer["value"] ?? .null
    }
}

/// HTTP/1.1 over a plain loopback socket, one request per connection, for
/// chromedriver: FoundationNetworking's client fails on its answers
/// ("Failed writing header"). Runs on a thread of its own.
enum LoopbackHTTP {
    /// One request on the calling thread, answer ignored (for clean-up).
    static func sendBlocking(_ method: String, _ url: URL) {
        _ = try? exchange(method, url, body: nil)
    }

    static func send(_ method: String, _ url: String, body: Data?) async throws -> (status: Int, body: Data) {
        guard let parsed = URL(string: url) else { throw TestFailure("bad URL \(url)") }
        return try await onOwnThread { try exchange(method, parsed, body: body) }
    }

    private static func exchange(_ method: String, _ parsed: URL, body: Data?) throws -> (status: Int, body: Data) {
        let url = parsed.absoluteString
        guard let port = parsed.port else { throw TestFailure("bad URL \(url)") }
        let path = parsed.path.isEmpty ? "/" : parsed.path
        do {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw TestFailure("socket() failed") }
            defer { close(fd) }
            var timeout = timeval(tv_sec: 60, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = UInt16(port).bigEndian
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else { throw TestFailure("\(url): connection refused") }
            var request = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
            if let body { request += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n" }
            var bytes = Data((request + "\r\n").utf8)
            if let body { bytes.append(body) }
            try bytes.withUnsafeBytes { raw in
                var sent = 0
                while sent < raw.count {
                    let count = Glibc.send(fd, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
                    guard count > 0 else { throw TestFailure("\(url): send failed") }
                    sent += count
                }
            }
            // Read the head, then as much body as Content-Length says (chromedriver keeps the connection open).
            var response = Data()
            var buffer = [UInt8](repeating: 0, count: 65536)
            var expected: Int?
            var headEnd: Range<Data.Index>?
            while true {
                if let headEnd, let expected, response.count - headEnd.upperBound >= expected { break }
                let count = recv(fd, &buffer, buffer.count, 0)
                if count <= 0 { break }
                response.append(contentsOf: buffer[0..<count])
                if headEnd == nil, let found = response.range(of: Data("\r\n\r\n".utf8)) {
                    headEnd = found
                    let head = String(decoding: response[..<found.lowerBound], as: UTF8.self).lowercased()
                    if let line = head.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }) {
                        expected = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces))
                    }
                }
            }
            guard let split = headEnd else { throw TestFailure("\(url): no HTTP answer") }
            let head = String(decoding: response[..<split.lowerBound], as: UTF8.self)
            let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
            var payload = Data(response[split.upperBound...])
            if head.lowercased().contains("transfer-encoding: chunked") { payload = dechunk(payload) }
            return (status, payload)
        }
    }

    static func dechunk(_ data: Data) -> Data {
        var output = Data()
        var index = data.startIndex
        while let lineEnd = data[index...].range(of: Data("\r\n".utf8)) {
            let size = Int(String(decoding: data[index..<lineEnd.lowerBound], as: UTF8.self), radix: 16) ?? 0
            guard size > 0 else { break }
            let start = lineEnd.upperBound
            let end = data.index(start, offsetBy: size, limitedBy: data.endIndex) ?? data.endIndex
            output.append(data[start..<end])
            index = data.index(end, offsetBy: 2, limitedBy: data.endIndex) ?? data.endIndex
        }
        return output
    }
}
