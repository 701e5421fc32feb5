import Foundation
import PipelineJSON
import PluginHTTP

/// deluged and deluge-web 2.0 on loopback for the Deluge driver's tests
/// (../shared/research/download-clients-2.md, section 1), on free ports in a
/// directory of their own, with their configuration written before start:
/// - deluged: core.conf with the downloads inside the directory, a fixed
///   BitTorrent port on `address`, no DHT, LSD, UPnP, NAT-PMP or uTP PEX;
///   its auth file holds the admin account (level 10) deluge-web logs in with.
/// - deluge-web: web.conf with the test's password (sha1 of salt + password)
///   and hostlist.conf naming that deluged. With `autoConnect` it connects to
///   deluged at its own start (web.conf's default_daemon); without, it starts
///   unconnected, as a fresh deluge-web does, and the driver must call
///   web.connect itself.
/// deluge-web's connection to deluged is one for all sessions: ``call(_:_:)``
/// helpers that connect it (``torrentState(hash:)``, ``add(_:savePath:paused:)``)
/// spare the driver that step, so a test of the driver's own web.connect runs
/// the driver first. A machine without them fails the test
/// (scripts/install-deps installs them). For a transfer, each BitTorrent peer
/// needs a loopback address of its own: libtorrent merges peers by IP.
final class DelugeDaemon: @unchecked Sendable {
    let directory: TemporaryDirectory
    /// The address deluged's BitTorrent side listens on (127.0.0.x).
    let address: String
    /// deluge-web's password: the driver's `password` setting.
    let password: String
    /// deluged's id in deluge-web's host list: the driver's `host_id` setting.
    let hostID: String
    let daemonUsername = "tester"
    let daemonPassword: String
    private let autoConnect: Bool
    private(set) var daemonPort: Int
    private(set) var webPort: Int
    private(set) var peerPort: Int
    private var passwordSalt = ""
    private var passwordHash = ""
    private var daemon: ChildProcess?
    private var web: ChildProcess?
    private let http = HTTPClient(timeout: .seconds(10))
    private var session: String?

    /// - Parameters:
    ///   - address: deluged's BitTorrent address; give each peer of a transfer its own 127.0.0.x.
    ///   - autoConnect: whether deluge-web connects to deluged at its start
    ///     (false: it waits for a web.connect, as a fresh deluge-web does).
    init(password: String = "pw-\(UUID().uuidString.prefix(6))", address: String = "127.0.0.1", autoConnect: Bool = false)
        async throws
    {
        directory = try TemporaryDirectory()
        self.password = password
        self.address = address
        self.autoConnect = autoConnect
        hostID = UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        daemonPassword = "dpw-\(UUID().uuidString.prefix(8))"
        daemonPort = try RedisServer.freePort()
        webPort = try RedisServer.freePort()
        peerPort = try RedisServer.freePort()
        for folder in ["config", "web", "downloads"] {
            try FileManager.default.createDirectory(atPath: directory.path + "/" + folder, withIntermediateDirectories: true)
        }
        // web.conf keeps sha1(salt + password), the salt a hex string.
        let hashed = try await BitTorrentTools.run(
            "python3",
            [
                "-c",
                """
                import hashlib, os, sys
                salt = hashlib.sha1(os.urandom(32)).hexdigest()
                print(salt, hashlib.sha1((salt + sys.argv[1]).encode()).hexdigest())
                """, password,
            ]
        ).trimmingCharacters(in: .whitespacesAndNewlines).split(separator: " ").map(String.init)
        guard hashed.count == 2 else { throw TestFailure("python3 printed no password hash: \(hashed)") }
        passwordSalt = hashed[0]
        passwordHash = hashed[1]
        // A port taken between the probe and the bind makes a daemon exit at
        // start (another server of another test got there first): new ports.
        for attempt in 1...3 {
            try writeConfiguration()
            do {
                try await startDaemon()
                try await startWeb()
                return
            } catch let error as TestFailure where attempt < 3 && error.description.contains("exited at start") {
                web?.kill()
                daemon?.kill()
                web = nil
                daemon = nil
                daemonPort = try RedisServer.freePort()
                webPort = try RedisServer.freePort()
                peerPort = try RedisServer.freePort()
            }
        }
    }

    deinit {
        web?.kill()
        daemon?.kill()
    }

    /// deluge-web's address: the driver's `url` setting.
    var url: String { "http://127.0.0.1:\(webPort)" }
    /// deluged's download_location.
    var downloadDirectory: String { directory.path + "/downloads" }

    private var environment: [String: String] { ["HOME": directory.path, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"] }

    /// Deluge's config files are two JSON objects in a row: the file's version, then the settings.
    /// Settings left out keep their defaults.
    private static func writeConfig(_ settings: JSONValue, version: Int, to path: String) throws {
        let body = String(decoding: try JSONEncoder().encode(settings), as: UTF8.self)
        try "{\"file\": \(version), \"format\": 1}\(body)".write(toFile: path, atomically: true, encoding: .utf8)
    }

    private func writeConfiguration() throws {
        let downloads = downloadDirectory
        let core: JSONValue = [
            "download_location": .string(downloads), "move_completed_path": .string(downloads),
            "torrentfiles_location": .string(downloads), "listen_ports": [.int(Int64(peerPort)), .int(Int64(peerPort))],
            "random_port": false, "dht": false, "lsd": false, "upnp": false, "natpmp": false, "utpex": false,
            "new_release_check": false,
        ]
        try Self.writeConfig(core, version: 1, to: directory.path + "/config/core.conf")
        try "\(daemonUsername):\(daemonPassword):10\n".write(toFile: directory.path + "/config/auth", atomically: true, encoding: .utf8)
        let webSettings: JSONValue = [
            "pwd_salt": .string(passwordSalt), "pwd_sha1": .string(passwordHash), "default_daemon": .string(autoConnect ? hostID : ""),
            "first_login": false, "https": false, "interface": "127.0.0.1", "port": .int(Int64(webPort)), "session_timeout": 3600,
        ]
        try Self.writeConfig(webSettings, version: 2, to: directory.path + "/web/web.conf")
        let host: JSONValue = [.string(hostID), "127.0.0.1", .int(Int64(daemonPort)), .string(daemonUsername), .string(daemonPassword)]
        try Self.writeConfig(["hosts": [host]], version: 3, to: directory.path + "/web/hostlist.conf")
    }

    /// Starts deluged (again after ``stopDaemon()``: same configuration, ports and torrents).
    /// deluge-web does not reconnect by itself; the driver's next call does.
    func startDaemon() async throws {
        let child = try ChildProcess(
            try BitTorrentTools.executable("deluged"),
            ["-d", "-c", directory.path + "/config", "-u", "127.0.0.1", "-i", address, "-p", String(daemonPort), "-L", "none"],
            environment: environment, logFile: directory.path + "/deluged.out")
        daemon = child
        try await Self.waitForPort(daemonPort, process: child, name: "deluged")
    }

    private func startWeb() async throws {
        let child = try ChildProcess(
            try BitTorrentTools.executable("deluge-web"),
            ["-d", "-c", directory.path + "/web", "-i", "127.0.0.1", "-p", String(webPort), "-L", "none"],
            environment: environment, logFile: directory.path + "/deluge-web.out")
        web = child
        session = nil
        try await BitTorrentTools.waitForHTTP(url + "/", process: child, name: "deluge-web")
    }

    /// Polls 127.0.0.1:`port` until it takes a connection (deluged's RPC port speaks TLS, not HTTP).
    private static func waitForPort(_ port: Int, process: ChildProcess, name: String) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            let listening = try await onOwnThread { (try? RawConnection(port: port)) != nil }
            if listening { return }
            guard process.isRunning else { throw TestFailure("\(name) exited at start") }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("\(name) did not listen on 127.0.0.1:\(port) within 20 s")
    }

    /// Stops deluged alone. deluge-web keeps running and says web.connected
    /// false; its daemon calls until a web.connect may get no answer at all.
    func stopDaemon() async throws {
        guard let daemon else { return }
        try await BitTorrentTools.stop(daemon)
        self.daemon = nil
    }

    func stop() async throws {
        if let web {
            try await BitTorrentTools.stop(web)
            self.web = nil
        }
        try await stopDaemon()
    }

    /// A JSON-RPC call to deluge-web as the test (its own session); returns
    /// "result", or fails with Deluge's "error".
    @discardableResult
    func call(_ method: String, _ params: [JSONValue] = []) async throws -> JSONValue {
        for attempt in 1...2 {
            if session == nil { try await logIn() }
            let body = try JSONEncoder().encode(["method": .string(method), "params": .array(params), "id": 1] as JSONValue)
            let request = HTTPRequest.json(URL(string: url + "/json")!, body, headers: ["Cookie": "_session_id=\(session ?? "")"])
            let response = try await http.send(request)
            guard response.status == 200, let answer = try? JSONDecoder().decode(JSONValue.self, from: response.body) else {
                throw TestFailure("deluge-web \(method): HTTP \(response.status) \(response.excerpt)")
            }
            if let error = answer["error"], error != .null {
                // Code 1, "Not authenticated": the session expired (or deluge-web restarted).
                if attempt == 1, error["code"]?.intValue == 1 {
                    session = nil
                    continue
                }
                throw TestFailure("deluge-web \(method): \(error)")
            }
            return answer["result"] ?? .null
        }
        throw TestFailure("deluge-web \(method): not authenticated even after a new login")
    }

    private func logIn() async throws {
        let body = try JSONEncoder().encode(["method": "auth.login", "params": [.string(password)], "id": 1] as JSONValue)
        let response = try await http.send(.json(URL(string: url + "/json")!, body))
        guard let cookie = response.cookie(named: "_session_id") else {
            throw TestFailure("the test could not log in to deluge-web: \(response.status) \(response.text)")
        }
        session = cookie
    }

    /// Connects deluge-web to deluged unless it is (a fresh deluge-web, or deluged restarted).
    func connectWeb() async throws {
        guard try await call("web.connected").boolValue != true else { return }
        guard try await call("web.connect", [.string(hostID)]).arrayValue != nil else {
            throw TestFailure("deluge-web could not connect to deluged on port \(daemonPort)")
        }
    }

    /// The torrent's Deluge state ("Downloading", "Seeding", "Paused",
    /// "Error", ...) and its progress from 0 to 1 (Deluge counts 0 to 100),
    /// or nil when deluged does not have it. Connects deluge-web first if need be.
    func torrentState(hash: String) async throws -> (state: String, progress: Double)? {
        try await connectWeb()
        let status = try await call("core.get_torrent_status", [.string(hash), ["state", "progress"]])
        guard let state = status["state"]?.stringValue else { return nil }  // {} for a hash it does not know
        return (state, (status["progress"]?.doubleValue ?? 0) / 100)
    }

    /// Adds a torrent as the test (to seed from `savePath`, or to stand by paused); returns its hash.
    @discardableResult
    func add(_ torrent: TorrentFixture, savePath: String, paused: Bool = false) async throws -> String {
        try await connectWeb()
        let options: JSONValue = ["download_location": .string(savePath), "add_paused": .bool(paused)]
        let id = try await call(
            "core.add_torrent_file", [.string(torrent.infoHash + ".torrent"), .string(try torrent.data.base64EncodedString()), options])
        guard let hash = id.stringValue else { throw TestFailure("deluged did not take the torrent: \(id)") }
        return hash
    }

    /// Makes deluged dial `peer` for the torrent: a transfer without a tracker.
    func connectPeer(hash: String, to peer: DelugeDaemon) async throws {
        try await connectWeb()
        try await call("core.connect_peer", [.string(hash), .string(peer.address), .int(Int64(peer.peerPort))])
    }
}
