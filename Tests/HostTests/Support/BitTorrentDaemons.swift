import Foundation
import Glibc
import PluginHTTP
import PipelineJSON

/// Real BitTorrent programs on loopback for the download-client tests:
/// opentracker, qbittorrent-nox and transmission-daemon, each on free ports
/// in a directory of its own (../shared/research/download-clients.md).
/// A machine without them fails the test (scripts/install-deps installs them).
enum BitTorrentTools {
    static func executable(_ name: String) throws -> String {
        let found = ["/usr/bin/", "/usr/local/bin/"].map { $0 + name }.first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let found else { throw TestFailure("\(name) is not installed; run scripts/install-deps") }
        return found
    }

    /// Runs a tool to completion and returns its output, on a thread of its
    /// own: waiting for a child must never hold one of the few cooperative
    /// threads the tests share (the timing tests of other suites would starve).
    static func run(_ name: String, _ arguments: [String]) async throws -> String {
        let path = try executable(name)
        return try await onOwnThread { try runBlocking(path, arguments) }
    }

    private static func runBlocking(_ path: String, _ arguments: [String]) throws -> String {
        let name = (path as NSString).lastPathComponent
        let (status, text) = try runToEnd(path, arguments)
        guard status == 0 else { throw TestFailure("\(name) \(arguments) failed: \(text)") }
        return text
    }

    /// Polls `url` until any HTTP status comes back.
    static func waitForHTTP(_ url: String, process: ChildProcess, name: String) async throws {
        let http = HTTPClient(timeout: .seconds(1))
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if (try? await http.send(HTTPRequest(url: URL(string: url)!))) != nil { return }
            guard process.isRunning else { throw TestFailure("\(name) exited at start") }
            try await Task.sleep(for: .milliseconds(25))
        }
        throw TestFailure("\(name) did not answer at \(url) within 20 s")
    }

    /// Stops a daemon with SIGTERM and waits for it (off the cooperative pool).
    static func stop(_ process: ChildProcess) async throws {
        process.signal(SIGTERM)
        try await process.waitForExit()
    }
}

/// A book's files and a .torrent for them, with a unique info hash.
struct TorrentFixture {
    let name: String
    /// The directory that holds the book's folder (a client's save path for it).
    let parent: String
    let torrentFile: String
    let infoHash: String
    let totalBytes: Int

    /// Creates `<parent>/<name>/` with audio files of `sizes` bytes and a
    /// .torrent with 32 KiB pieces announcing to `tracker`.
    init(in directory: TemporaryDirectory, name: String = "Jane Austen - Pride and Prejudice", sizes: [Int], tracker: String)
        async throws
    {
        self.name = name
        let unique = UUID().uuidString.prefix(8).lowercased()
        parent = directory.path + "/seed-\(unique)"
        let folder = parent + "/" + name
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let random = try FileHandle(forReadingFrom: URL(fileURLWithPath: "/dev/urandom"))
        defer { try? random.close() }
        for (index, size) in sizes.enumerated() {
            let bytes = try random.read(upToCount: size) ?? Data()
            guard bytes.count == size else { throw TestFailure("/dev/urandom gave \(bytes.count) of \(size) bytes") }
            try bytes.write(to: URL(fileURLWithPath: folder + String(format: "/%02d - Chapter %d.mp3", index + 1, index + 1)))
        }
        totalBytes = sizes.reduce(0, +)
        torrentFile = directory.path + "/\(unique).torrent"
        _ = try await BitTorrentTools.run("mktorrent", ["-a", tracker, "-l", "15", "-s", "test-\(unique)", "-o", torrentFile, folder])
        // The hash from another program than the one under test.
        let shown = try await BitTorrentTools.run("transmission-show", [torrentFile])
        guard let line = shown.split(separator: "\n").first(where: { $0.contains("Hash:") }),
            let hash = line.split(separator: " ").last
        else { throw TestFailure("transmission-show printed no hash: \(shown)") }
        infoHash = String(hash).lowercased()
    }

    var data: Data { get throws { try Data(contentsOf: URL(fileURLWithPath: torrentFile)) } }
}

/// opentracker (Debian builds it in whitelist mode): every torrent a test
/// uses must be allowed first.
final class OpenTracker: @unchecked Sendable {
    let port: Int
    let directory: TemporaryDirectory
    private var process: ChildProcess?

    init() async throws {
        directory = try TemporaryDirectory()
        port = try RedisServer.freePort()
        chmod(directory.path, 0o755)
        try directory.write("whitelist.txt", "")
        chmod(directory.path + "/whitelist.txt", 0o644)
        // As root it chroots into -d and drops to nobody: the list's path is inside the chroot.
        let list = getuid() == 0 ? "/whitelist.txt" : directory.path + "/whitelist.txt"
        var arguments = ["-i", "127.0.0.1", "-p", String(port), "-P", String(port), "-d", directory.path, "-w", list]
        if getuid() == 0 { arguments += ["-u", "nobody"] }
        let child = try ChildProcess(
            try BitTorrentTools.executable("opentracker"), arguments + ["-A", "127.0.0.1"], environment: [:],
            logFile: directory.path + "/opentracker.log")
        process = child
        try await BitTorrentTools.waitForHTTP("http://127.0.0.1:\(port)/scrape", process: child, name: "opentracker")
    }

    deinit { process?.kill() }

    var announce: String { "http://127.0.0.1:\(port)/announce" }

    /// Lets the tracker serve `infoHash`.
    func allow(_ infoHash: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: directory.path + "/whitelist.txt"))
        handle.seekToEndOfFile()
        handle.write(Data((infoHash + "\n").utf8))
        try handle.close()
        process?.signal(SIGHUP)
    }
}

/// qbittorrent-nox 4.5 with a profile written before start: loopback only,
/// no DHT/LSD/PeX, login `admin` with a password of the test's choosing, and
/// no ban after failed logins.
final class QBittorrentDaemon: @unchecked Sendable {
    private(set) var webPort: Int
    private(set) var peerPort: Int
    private var configHash = ""
    private var banAfterFailedLogins = 0
    let directory: TemporaryDirectory
    let username = "admin"
    let password: String
    private var process: ChildProcess?
    private let http = HTTPClient(timeout: .seconds(10))
    private var sid: String?

    /// - Parameter banAfterFailedLogins: qBittorrent's ban after that many
    ///   failed logins (its default is 5); 0, the tests' default, never bans.
    init(password: String = "pw-\(UUID().uuidString.prefix(6))", banAfterFailedLogins: Int = 0) async throws {
        directory = try TemporaryDirectory()
        webPort = try RedisServer.freePort()
        peerPort = try RedisServer.freePort()
        self.password = password
        let config = directory.path + "/profile/qBittorrent/config"
        try FileManager.default.createDirectory(atPath: config, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: directory.path + "/downloads", withIntermediateDirectories: true)
        let hash = try await BitTorrentTools.run(
            "python3",
            [
                "-c",
                """
                import base64, hashlib, os, sys
                salt = os.urandom(16)
                key = hashlib.pbkdf2_hmac('sha512', sys.argv[1].encode(), salt, 100000, dklen=64)
                print('@ByteArray(%s:%s)' % (base64.b64encode(salt).decode(), base64.b64encode(key).decode()))
                """, password,
            ]
        ).trimmingCharacters(in: .whitespacesAndNewlines)
        configHash = hash
        self.banAfterFailedLogins = banAfterFailedLogins
        // A port taken between the probe and qBittorrent's bind makes it exit
        // at start (another server of another test got there first): new ports.
        for attempt in 1...3 {
            try writeConfig()
            do {
                try await start()
                return
            } catch let error as TestFailure where attempt < 3 && error.description.contains("exited at start") {
                webPort = try RedisServer.freePort()
                peerPort = try RedisServer.freePort()
            }
        }
    }

    private func writeConfig() throws {
        let config = directory.path + "/profile/qBittorrent/config"
        let hash = configHash
        try """
        [LegalNotice]
        Accepted=true

        [BitTorrent]
        Session\\Port=\(peerPort)
        Session\\Interface=lo
        Session\\InterfaceName=lo
        Session\\InterfaceAddress=127.0.0.1
        Session\\DefaultSavePath=\(directory.path)/downloads
        Session\\TempPathEnabled=false
        Session\\DHTEnabled=false
        Session\\LSDEnabled=false
        Session\\PeXEnabled=false
        Session\\QueueingSystemEnabled=false
        Session\\MultiConnectionsPerIp=true

        [Network]
        PortForwardingEnabled=false

        [Preferences]
        Connection\\ResolvePeerCountries=false
        General\\Locale=en
        WebUI\\Address=127.0.0.1
        WebUI\\Port=\(webPort)
        WebUI\\UseUPnP=false
        WebUI\\Username=\(username)
        WebUI\\Password_PBKDF2="\(hash)"
        WebUI\\MaxAuthenticationFailCount=\(banAfterFailedLogins)

        """.write(toFile: config + "/qBittorrent.conf", atomically: true, encoding: .utf8)
    }

    deinit { process?.kill() }

    var url: String { "http://127.0.0.1:\(webPort)" }
    var downloads: String { directory.path + "/downloads" }

    func start() async throws {
        let child = try ChildProcess(
            try BitTorrentTools.executable("qbittorrent-nox"), ["--profile=\(directory.path)/profile"],
            environment: ["HOME": directory.path, "PATH": "/usr/bin:/bin"], logFile: directory.path + "/qbittorrent.out")
        process = child
        sid = nil
        try await BitTorrentTools.waitForHTTP(url + "/api/v2/app/version", process: child, name: "qbittorrent-nox")
    }

    func stop() async throws {
        guard let process else { return }
        try await BitTorrentTools.stop(process)
        self.process = nil
    }

    /// A WebUI call as the test (its own session).
    @discardableResult
    func call(_ path: String, form: [(String, String)] = [], multipart: MultipartForm? = nil) async throws -> HTTPResponse {
        if sid == nil {
            let login = try await http.send(
                .form(URL(string: url + "/api/v2/auth/login")!, [("username", username), ("password", password)]))
            guard login.text == "Ok.", let cookie = login.cookie(named: "SID") else {
                throw TestFailure("the test could not log in to qBittorrent: \(login.status) \(login.text)")
            }
            sid = cookie
        }
        var request: HTTPRequest
        if let multipart {
            request = HTTPRequest(
                method: "POST", url: URL(string: url + "/api/v2/" + path)!, headers: ["Content-Type": multipart.contentType],
                body: multipart.data)
        } else if form.isEmpty {
            request = HTTPRequest(url: URL(string: url + "/api/v2/" + path)!)
        } else {
            request = .form(URL(string: url + "/api/v2/" + path)!, form)
        }
        request.headers["Cookie"] = "SID=\(sid!)"
        let response = try await http.send(request)
        guard response.isSuccess else { throw TestFailure("qBittorrent \(path): \(response.status) \(response.text)") }
        return response
    }

    /// Adds a torrent as the test (to seed, or to stand by paused).
    func add(_ torrent: TorrentFixture, savePath: String, paused: Bool = false) async throws {
        var form = MultipartForm()
        form.add("torrents", fileName: "t.torrent", contentType: "application/x-bittorrent", data: try torrent.data)
        form.add("savepath", savePath)
        form.add("paused", paused ? "true" : "false")
        try await call("torrents/add", multipart: form)
    }

    /// The torrent's fields from torrents/info, or nil.
    func info(_ hash: String) async throws -> JSONValue? {
        let response = try await call("torrents/info?hashes=\(hash)")
        return try JSONDecoder().decode(JSONValue.self, from: response.body).arrayValue?.first
    }
}

/// transmission-daemon 3.00 with settings.json written before start:
/// loopback only, RPC with a username and password.
final class TransmissionDaemon: @unchecked Sendable {
    let rpcPort: Int
    let peerPort: Int
    let directory: TemporaryDirectory
    let username = "tuser"
    let password: String
    private var process: ChildProcess?
    private let http = HTTPClient(timeout: .seconds(10))
    private var sessionID: String?

    init(password: String = "pw-\(UUID().uuidString.prefix(6))") async throws {
        directory = try TemporaryDirectory()
        rpcPort = try RedisServer.freePort()
        peerPort = try RedisServer.freePort()
        self.password = password
        try FileManager.default.createDirectory(atPath: directory.path + "/config", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: directory.path + "/downloads", withIntermediateDirectories: true)
        let settings: JSONValue = [
            "bind-address-ipv4": "127.0.0.1", "bind-address-ipv6": "::1", "dht-enabled": false, "lpd-enabled": false,
            "pex-enabled": false, "utp-enabled": false, "port-forwarding-enabled": false, "peer-port": .int(Int64(peerPort)),
            "peer-port-random-on-start": false, "download-dir": .string(directory.path + "/downloads"),
            "incomplete-dir-enabled": false, "download-queue-enabled": false, "seed-queue-enabled": false,
            "queue-stalled-enabled": false, "start-added-torrents": true, "rename-partial-files": false, "message-level": 2,
            "rpc-enabled": true, "rpc-bind-address": "127.0.0.1", "rpc-port": .int(Int64(rpcPort)),
            "rpc-whitelist-enabled": true, "rpc-whitelist": "127.0.0.1", "rpc-host-whitelist-enabled": false,
            "rpc-authentication-required": true, "rpc-username": .string(username), "rpc-password": .string(password),
        ]
        try JSONEncoder().encode(settings).write(to: URL(fileURLWithPath: directory.path + "/config/settings.json"))
        try await start()
    }

    deinit { process?.kill() }

    var url: String { "http://127.0.0.1:\(rpcPort)" }

    func start() async throws {
        let child = try ChildProcess(
            try BitTorrentTools.executable("transmission-daemon"),
            ["-f", "-g", directory.path + "/config", "-e", directory.path + "/transmission.log"],
            environment: ["HOME": directory.path], logFile: directory.path + "/transmission.out")
        process = child
        try await BitTorrentTools.waitForHTTP(url + "/transmission/rpc", process: child, name: "transmission-daemon")
    }

    func stop() async throws {
        guard let process else { return }
        try await BitTorrentTools.stop(process)
        self.process = nil
    }

    /// An RPC call as the test; returns `arguments`.
    @discardableResult
    func rpc(_ method: String, _ arguments: JSONValue) async throws -> JSONValue {
        let body = try JSONEncoder().encode(["method": .string(method), "arguments": arguments] as JSONValue)
        let authorization = "Basic " + Data("\(username):\(password)".utf8).base64EncodedString()
        for _ in 0..<3 {
            var headers = ["Authorization": authorization, "Content-Type": "application/json"]
            if let sessionID { headers["X-Transmission-Session-Id"] = sessionID }
            let response = try await http.send(
                HTTPRequest(method: "POST", url: URL(string: url + "/transmission/rpc")!, headers: headers, body: body))
            if response.status == 409 {
                sessionID = response.header("X-Transmission-Session-Id")
                continue
            }
            let answer = try JSONDecoder().decode(JSONValue.self, from: response.body)
            guard answer["result"]?.stringValue == "success" else { throw TestFailure("transmission \(method): \(response.text)") }
            return answer["arguments"] ?? [:]
        }
        throw TestFailure("transmission kept answering 409")
    }

    func add(_ torrent: TorrentFixture, downloadDir: String, paused: Bool = false) async throws {
        try await rpc(
            "torrent-add",
            ["metainfo": .string(try torrent.data.base64EncodedString()), "download-dir": .string(downloadDir), "paused": .bool(paused)])
    }

    /// The torrent's fields, or nil.
    func torrent(_ hash: String, fields: [String]) async throws -> JSONValue? {
        let answer = try await rpc("torrent-get", ["ids": [.string(hash)], "fields": .array(fields.map { .string($0) })])
        return answer["torrents"]?.arrayValue?.first
    }
}
