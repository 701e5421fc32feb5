import Foundation
import Glibc
import PipelineJSON
import PluginHTTP

/// The usenet side of the download-client tests
/// (../shared/research/download-clients-2.md, sections 2 and 3): a news
/// server on loopback that serves stored yEnc articles (nntp_server.py), the
/// fixtures posted to it (make_nzb.py), and a private NZBGet downloading from
/// it. The two scripts sit beside this file and need python3 alone; NZBGet
/// comes from Debian (scripts/install-deps installs it).
enum UsenetTools {
    static let supportDirectory = packageRoot + "/Tests/HostTests/Support"
    static var newsServerScript: String { supportDirectory + "/nntp_server.py" }
    static var makeNZBScript: String { supportDirectory + "/make_nzb.py" }
}

/// nntp_server.py on 127.0.0.1, serving the articles in ``store`` (one
/// `<message-id>.art` file each, read on every request: removing one makes
/// the server answer 430, a missing article). Every command it gets is in
/// its log (`nntp_server.log` in its directory).
final class NewsServer: @unchecked Sendable {
    let directory: TemporaryDirectory
    /// The article store: where ``NZBFixture`` posts.
    let store: String
    /// AUTHINFO USER/PASS the server asks for, or nil for none.
    let username: String?
    let password: String?
    /// The port it listens on; 0 until it first started (it picks a free one
    /// then, and keeps it across ``stop()`` and ``start()``).
    private(set) var port = 0
    private var process: ChildProcess?

    init(username: String? = nil, password: String? = nil) async throws {
        directory = try TemporaryDirectory()
        store = directory.path + "/articles"
        self.username = username
        self.password = password
        try FileManager.default.createDirectory(atPath: store, withIntermediateDirectories: true)
        try await start()
    }

    deinit { process?.kill() }

    private var logFile: String { directory.path + "/nntp_server.log" }

    /// Starts the server (again after ``stop()``: same port, same articles).
    func start() async throws {
        var arguments = [UsenetTools.newsServerScript, store, "--port", String(port), "-v"]
        if let username, let password { arguments += ["--user", username, "--password", password] }
        try? FileManager.default.removeItem(atPath: logFile)  // the port is read from this start's log
        let child = try ChildProcess(
            try BitTorrentTools.executable("python3"), arguments, environment: ["PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"],
            logFile: logFile)
        process = child
        // It prints "LISTENING <port>" once it listens.
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            let log = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
            if let line = log.split(separator: "\n").first(where: { $0.hasPrefix("LISTENING ") }),
                let listening = Int(line.dropFirst("LISTENING ".count).trimmingCharacters(in: .whitespaces))
            {
                port = listening
                return
            }
            guard child.isRunning else { throw TestFailure("nntp_server.py exited at start: \(log)") }
            try await Task.sleep(for: .milliseconds(25))
        }
        throw TestFailure("nntp_server.py did not say LISTENING within 20 s")
    }

    func stop() async throws {
        guard let process else { return }
        try await BitTorrentTools.stop(process)
        self.process = nil
    }

    /// The commands the server got so far (passwords masked), one a line.
    var commands: [String] {
        let log = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
        return log.split(separator: "\n").filter { $0.hasPrefix("nntp: ") }.map { String($0.dropFirst("nntp: ".count)) }
    }
}

/// A file of random bytes posted to a ``NewsServer`` as yEnc articles, and
/// the .nzb naming them (make_nzb.py): one file, `parts` articles of
/// `partSize` bytes. Every fixture has new message-ids, so NZBGet never takes
/// it for an NZB it had before.
struct NZBFixture {
    /// The file's name in the articles: the name of the file NZBGet writes.
    let name: String
    /// The original file, to compare with what NZBGet writes.
    let file: String
    let nzbFile: String
    let parts: Int
    let size: Int

    /// - Parameter missingParts: parts (from 1) the .nzb names but the server
    ///   does not have (it answers 430 for them).
    init(
        in directory: TemporaryDirectory, server: NewsServer, name: String = "Jane Austen - Emma.mp3", size: Int = 3 << 20,
        partSize: Int = 500_000, missingParts: [Int] = []
    ) async throws {
        self.name = name
        self.size = size
        let unique = UUID().uuidString.prefix(8).lowercased()
        file = directory.path + "/payload-\(unique).bin"
        nzbFile = directory.path + "/\(unique).nzb"
        let random = try FileHandle(forReadingFrom: URL(fileURLWithPath: "/dev/urandom"))
        defer { try? random.close() }
        let bytes = try random.read(upToCount: size) ?? Data()
        guard bytes.count == size else { throw TestFailure("/dev/urandom gave \(bytes.count) of \(size) bytes") }
        try bytes.write(to: URL(fileURLWithPath: file))
        var arguments = [
            UsenetTools.makeNZBScript, file, "--store", server.store, "--nzb", nzbFile, "--name", name, "--part-size", String(partSize),
        ]
        for part in missingParts { arguments += ["--omit", String(part)] }
        // It prints "<nzb> <parts> parts <size> bytes".
        let printed = try await BitTorrentTools.run("python3", arguments).split(separator: " ")
        guard printed.count >= 2, let count = Int(printed[1]) else {
            throw TestFailure("make_nzb.py printed no part count: \(printed.joined(separator: " "))")
        }
        parts = count
    }

    var nzb: Data { get throws { try Data(contentsOf: URL(fileURLWithPath: nzbFile)) } }
    /// The .nzb in base64: NZBGet's append takes it so, as the driver's item's "nzb_base64".
    var nzbBase64: String { get throws { try nzb.base64EncodedString() } }
}

/// NZBGet 21 on loopback with its configuration written before start: its
/// own MainDir (queue, history and duplicate records live there, so every
/// daemon starts empty), JSON-RPC on 127.0.0.1 with a username and password,
/// one news server (``NewsServer``), and no post-processing that could slow a
/// test or need outside tools (no par check, no renaming, no unpack).
/// A finished download is in ``destDirectory``/[category/]name.
final class NZBGetDaemon: @unchecked Sendable {
    let directory: TemporaryDirectory
    /// ControlUsername and ControlPassword: the driver's `username` and `password`.
    let username = "nzbget"
    let password: String
    private(set) var controlPort: Int
    private let newsServer: NewsServer
    private let options: [String: String]
    private var process: ChildProcess?
    private let http = HTTPClient(timeout: .seconds(10))

    /// - Parameters:
    ///   - options: settings of nzbget.conf to set or override, e.g.
    ///     `["HealthCheck": "none"]` (this file's default is NZBGet's
    ///     template's, `park`) or `["DupeCheck": "no"]`.
    init(newsServer: NewsServer, password: String = "pw-\(UUID().uuidString.prefix(6))", options: [String: String] = [:])
        async throws
    {
        directory = try TemporaryDirectory()
        self.newsServer = newsServer
        self.password = password
        self.options = options
        controlPort = try RedisServer.freePort()
        // A port taken between the probe and NZBGet's bind: NZBGet keeps
        // running and retries, so the wait below spots it in the log. New port.
        for attempt in 1...3 {
            try writeConfiguration()
            do {
                try await start()
                return
            } catch let error as TestFailure where attempt < 3 && error.description.contains("could not bind") {
                process?.kill()
                process = nil
                controlPort = try RedisServer.freePort()
            }
        }
    }

    deinit { process?.kill() }

    /// NZBGet's address: the driver's `url` setting.
    var url: String { "http://127.0.0.1:\(controlPort)" }
    var mainDirectory: String { directory.path + "/nzbget" }
    /// Where finished downloads go (DestDir).
    var destDirectory: String { mainDirectory + "/complete" }
    /// Where downloads are written while they run (InterDir): `<name>.#<NZBID>`.
    var interDirectory: String { mainDirectory + "/intermediate" }
    private var configFile: String { directory.path + "/nzbget.conf" }
    private var outputFile: String { directory.path + "/nzbget.out" }

    private func writeConfiguration() throws {
        let webui = "/usr/share/nzbget/webui"
        let hasWebUI = FileManager.default.fileExists(atPath: webui + "/nzbget.conf")
        var settings: [(String, String)] = [
            ("MainDir", mainDirectory),  // absolute: NZBGet resolves a relative one twice
            ("DestDir", "${MainDir}/complete"), ("InterDir", "${MainDir}/intermediate"), ("NzbDir", "${MainDir}/nzb"),
            ("QueueDir", "${MainDir}/queue"), ("TempDir", "${MainDir}/tmp"), ("ScriptDir", "${MainDir}/scripts"),
            ("LockFile", "${MainDir}/nzbget.lock"), ("LogFile", "${MainDir}/nzbget.log"),
            ("WebDir", hasWebUI ? webui : ""), ("ConfigTemplate", hasWebUI ? webui + "/nzbget.conf" : ""),
            ("ControlIP", "127.0.0.1"), ("ControlPort", String(controlPort)), ("ControlUsername", username),
            ("ControlPassword", password), ("SecureControl", "no"), ("FormAuth", "no"), ("UpdateCheck", "none"),
            ("DaemonUsername", Self.userName),
            ("Server1.Active", "yes"), ("Server1.Name", "local"), ("Server1.Level", "0"), ("Server1.Optional", "no"),
            ("Server1.Host", "127.0.0.1"), ("Server1.Port", String(newsServer.port)),
            ("Server1.Username", newsServer.username ?? ""), ("Server1.Password", newsServer.password ?? ""),
            ("Server1.JoinGroup", "no"), ("Server1.Encryption", "no"), ("Server1.Connections", "2"),
            // No incoming-folder scan, no disk-space pause, quick failures on a missing article.
            ("NzbDirInterval", "0"), ("DiskSpace", "0"), ("ArticleRetries", "1"), ("ArticleInterval", "1"),
            ("ArticleTimeout", "10"), ("HealthCheck", "park"),
            // Nothing after the download but the move to DestDir: no par2, no unrar (not here), no renaming.
            ("ParCheck", "manual"), ("ParRename", "no"), ("RarRename", "no"), ("DirectRename", "no"), ("Unpack", "no"),
            ("DirectUnpack", "no"),
            ("OutputMode", "log"), ("WriteLog", "append"), ("CrashTrace", "no"),
        ]
        for (name, value) in options.sorted(by: { $0.key < $1.key }) {
            if let index = settings.firstIndex(where: { $0.0 == name }) {
                settings[index].1 = value
            } else {
                settings.append((name, value))
            }
        }
        try FileManager.default.createDirectory(atPath: mainDirectory, withIntermediateDirectories: true)
        let text = settings.map { "\($0.0)=\($0.1)" }.joined(separator: "\n") + "\n"
        try text.write(toFile: configFile, atomically: true, encoding: .utf8)
    }

    private static var userName: String {
        guard let entry = getpwuid(getuid()), let name = entry.pointee.pw_name else { return "root" }
        return String(cString: name)
    }

    /// Starts NZBGet in the foreground (`-s`), again after ``stop()`` with
    /// the same configuration, queue and history, and waits until its
    /// JSON-RPC answers with the test's password.
    func start() async throws {
        try? FileManager.default.removeItem(atPath: outputFile)  // this start's messages only
        let child = try ChildProcess(
            try BitTorrentTools.executable("nzbget"), ["-c", configFile, "-s"],
            environment: ["HOME": directory.path, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"], logFile: outputFile)
        process = child
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            let output = (try? String(contentsOfFile: outputFile, encoding: .utf8)) ?? ""
            // Another server has the port: NZBGet says so and retries forever;
            // an answer on that port would be the other server's.
            if output.contains("Binding socket failed") {
                child.kill()
                throw TestFailure("nzbget could not bind 127.0.0.1:\(controlPort): \(output)")
            }
            guard child.isRunning else { throw TestFailure("nzbget exited at start: \(output)") }
            if (try? await call("version"))?.stringValue != nil { return }
            try await Task.sleep(for: .milliseconds(25))
        }
        throw TestFailure("nzbget did not answer at \(url)/jsonrpc within 20 s")
    }

    /// Stops NZBGet with SIGTERM (it saves its queue and exits in under a second).
    func stop() async throws {
        guard let process else { return }
        try await BitTorrentTools.stop(process)
        self.process = nil
    }

    /// A JSON-RPC call as the test; returns "result", or fails with NZBGet's "error".
    @discardableResult
    func call(_ method: String, _ params: [JSONValue] = []) async throws -> JSONValue {
        let body = try JSONEncoder().encode(["method": .string(method), "params": .array(params), "id": 1] as JSONValue)
        let authorization = "Basic " + Data("\(username):\(password)".utf8).base64EncodedString()
        let response = try await http.send(.json(URL(string: url + "/jsonrpc")!, body, headers: ["Authorization": authorization]))
        guard response.status == 200, let answer = try? JSONDecoder().decode(JSONValue.self, from: response.body) else {
            throw TestFailure("nzbget \(method): HTTP \(response.status) \(response.excerpt)")
        }
        if let error = answer["error"], error != .null { throw TestFailure("nzbget \(method): \(error)") }
        return answer["result"] ?? .null
    }

    /// Adds a fixture as the test, as the driver does (DupeMode FORCE: even
    /// an NZB NZBGet had before); returns its NZBID.
    @discardableResult
    func append(_ fixture: NZBFixture, name: String? = nil, category: String = "", paused: Bool = false) async throws -> Int64 {
        let nzbName = name ?? (fixture.name as NSString).deletingPathExtension
        let id = try await call(
            "append",
            [
                .string(nzbName + ".nzb"), .string(try fixture.nzbBase64), .string(category), 0, .bool(false), .bool(paused),
                .string(nzbName), 0, "FORCE", [],
            ])
        guard let nzbID = id.intValue, nzbID > 0 else { throw TestFailure("nzbget did not take the NZB: \(id)") }
        return nzbID
    }

    /// The download's queue entry (listgroups: Status QUEUED, PAUSED,
    /// DOWNLOADING, ..., PP_FINISHED), or nil when it is not in the queue.
    func queueEntry(_ id: Int64) async throws -> JSONValue? {
        try await call("listgroups", [0]).arrayValue?.first { $0["NZBID"]?.intValue == id }
    }

    /// The download's history entry (Status "SUCCESS/HEALTH",
    /// "FAILURE/HEALTH", "DELETED/MANUAL", ...), or nil. `hidden` also
    /// looks at entries HistoryDelete hid.
    func historyEntry(_ id: Int64, hidden: Bool = false) async throws -> JSONValue? {
        try await call("history", [.bool(hidden)]).arrayValue?.first { $0["NZBID"]?.intValue == id }
    }

    /// Waits until the download is in the history (done, failed or
    /// deleted) and returns its entry.
    func waitForHistory(_ id: Int64, timeout: Duration = .seconds(60)) async throws -> JSONValue {
        var entry: JSONValue?
        try await eventually("nzbget moves download \(id) to its history", timeout: timeout, every: .milliseconds(50)) {
            entry = try await historyEntry(id)
            return entry != nil
        }
        if let entry { return entry }
        throw TestFailure("download \(id) left the history again")
    }

    /// Caps NZBGet's download rate (0: no cap), to catch a download while it runs.
    func setDownloadRate(kilobytesPerSecond: Int) async throws {
        try await call("rate", [.int(Int64(kilobytesPerSecond))])
    }
}
