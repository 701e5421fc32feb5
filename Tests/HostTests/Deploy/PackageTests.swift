import Foundation
import PipelineHost
import Testing

/// `scripts/package` makes a tree, a tarball and a Debian package that run
/// without the Swift toolchain: every ELF file finds the Swift runtime in the
/// package through its `$ORIGIN` run path, and everything runs with a clean
/// environment (no toolchain on PATH, no LD_LIBRARY_PATH).
@Suite struct PackageTests {
    /// The environment of a machine without the toolchain.
    static let clean = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8"]

    /// Runs `command` with `environment` (only), and returns its status and output.
    static func run(_ command: String, _ arguments: [String], environment: [String: String] = clean) throws -> (status: Int32, text: String) {
        try runToEnd(command, arguments, environment: environment)
    }

    @Test func theInstalledPackageRunsWithoutTheToolchain() async throws {
        let directory = try TemporaryDirectory()
        let out = directory.path + "/out"
        var environment = ProcessInfo.processInfo.environment
        environment["PATH"] = (environment["PATH"] ?? "") + ":/usr/sbin:/sbin"
        let made = try Self.run(
            "/bin/bash", [packageRoot + "/scripts/package", "--products", ProductsDirectory.path, "--version", "1.0.0", "--out", out],
            environment: environment)
        #expect(made.status == 0, "\(made.text)")
        let deb = out + "/pipeline-host_1.0.0_\(try Self.run("/usr/bin/dpkg", ["--print-architecture"]).text.trimmingCharacters(in: .whitespacesAndNewlines)).deb"
        let root = directory.path + "/root"
        #expect(try Self.run("/usr/bin/dpkg-deb", ["-x", deb, root]).status == 0)
        let host = root + "/usr/bin/pipeline-host"
        let plugins = root + "/usr/lib/pipeline-host/plugins"

        // 1. Every library resolves to the package's own files or to the system's.
        let files = [host] + (try FileManager.default.contentsOfDirectory(atPath: plugins)).map { plugins + "/" + $0 }
        #expect(files.count == 9, "the host and its eight plugins: \(files)")
        for file in files {
            let ldd = try Self.run("/usr/bin/ldd", [file])
            #expect(ldd.status == 0 && !ldd.text.contains("not found"), "\(file): \(ldd.text)")
            for line in ldd.text.split(separator: "\n") {
                guard let path = line.split(separator: " ").dropFirst(2).first, path.hasPrefix("/") else { continue }
                let allowed = path.hasPrefix(root + "/") || ["/lib/", "/lib64/", "/usr/lib/"].contains { path.hasPrefix($0) }
                #expect(allowed, "\(file) loads \(path)")
            }
        }

        // 2. The installed configuration validates, its plugins found in the installed plugin directory.
        let validate = try Self.run(host, ["validate", "--config", root + "/etc/pipeline-host/pipeline.yaml"])
        #expect(validate.status == 0, "\(validate.text)")

        // 3. A third party's plugin, built against the installed header, dropped in beside the others.
        let built = try Self.run(
            "/usr/bin/cc",
            [
                "-shared", "-fPIC", "-I", root + "/usr/include/pipeline-host", "-o", plugins + "/libThirdPartyEcho.so",
                packageRoot + "/Tests/PluginTests/Fixtures/FixtureCEcho/FixtureCEcho.c",
            ])
        #expect(built.status == 0, "\(built.text)")

        // 4. Jobs through an installed Swift plugin (the organizer), an installed C plugin (the Deluge driver, whose
        //    host job needs no client with no seeding goal set) and the third party's plugin.
        let redis = try RedisServer()
        let downloads = directory.path + "/downloads/Emma"
        let library = directory.path + "/library"
        try FileManager.default.createDirectory(atPath: downloads, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: library, withIntermediateDirectories: true)
        try Data(repeating: 7, count: 4096).write(to: URL(fileURLWithPath: downloads + "/01 - Chapter 1.mp3"))
        let prefix = "t\(UUID().uuidString.prefix(8).lowercased())"
        let file = try directory.write(
            "pipeline.yaml",
            """
            redis: {url: "\(redis.url)", prefix: \(prefix)}
            postgres: {enabled: false}
            queue: {drain_delay: 1s}
            plugins:
              organizer: {path: libOrganizeFiles.so, config: {library_root: "\(library)", import_roots: ["\(directory.path)/downloads"], mode: copy}}
              deluge: {path: libDownloadDeluge.so, config: {url: "http://127.0.0.1:9", password: x}}
              thirdparty: {path: libThirdPartyEcho.so}
            jobs:
              organize_files: {plugin: organizer, attempts: 1}
              cleanup_seeded_torrents: {plugin: deluge, attempts: 1}
              echo: {plugin: thirdparty, attempts: 1}
            """)
        let client = try testClient(redis)
        var added: [(JobQueue, String)] = []
        for (type, payload) in [
            ("organize_files", #"{"download_path":"\#(downloads)","book":{"title":"Emma","author":"Jane Austen"}}"#),
            ("cleanup_seeded_torrents", "{}"), ("echo", #"{"hello":"installed"}"#),
        ] {
            let queue = JobQueue(name: type, prefix: prefix, client: client)
            added.append((queue, try await queue.add(dataJSON: payload)))
        }
        let log = directory.path + "/host.log"
        let running = try ChildProcess(host, ["run", "--config", file], environment: Self.clean, logFile: log)
        try await eventually("three jobs done", timeout: .seconds(60), every: .milliseconds(200)) {
            var done = 0
            for (queue, id) in added {
                let state = try await queue.job(id)?.state
                if state == .failed { throw TestFailure("\(queue.name) \(id) failed: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")") }
                if state == .completed { done += 1 }
            }
            return done == added.count
        }
        running.signal(SIGTERM)
        try await running.waitForExit()
        #expect(FileManager.default.fileExists(atPath: library + "/Jane Austen/Emma/01 - Chapter 1.mp3"), "imported by the installed Swift plugin")

        // 5. The unit, as systemd reads it (with ExecStart pointing into the unpacked root).
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze") {
            let unit = try String(contentsOfFile: root + "/lib/systemd/system/pipeline-host.service", encoding: .utf8)
            let copy = try directory.write("pipeline-host.service", unit.replacingOccurrences(of: "/usr/bin/pipeline-host", with: host))
            let verify = try Self.run("/usr/bin/systemd-analyze", ["verify", copy])
            #expect(verify.status == 0, "\(verify.text)")
        }

        // 6. An upgrade keeps an edited /etc/pipeline-host/pipeline.yaml (a conffile).
        let target = directory.path + "/installed"
        try FileManager.default.createDirectory(atPath: target + "/var/lib/dpkg/updates", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: target + "/var/lib/dpkg/info", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: target + "/var/lib/dpkg/status", contents: nil)
        let dpkg = ["--root=\(target)", "--force-script-chrootless", "--force-depends", "--log=/dev/null", "-i"]
        let first = try Self.run("/usr/bin/dpkg", dpkg + [deb])
        #expect(first.status == 0, "\(first.text)")
        let config = target + "/etc/pipeline-host/pipeline.yaml"
        let edited = try String(contentsOfFile: config, encoding: .utf8) + "\n# edited by the operator\n"
        try edited.write(toFile: config, atomically: true, encoding: .utf8)
        // The next version: the same package, its version raised.
        let unpacked = directory.path + "/next"
        #expect(try Self.run("/usr/bin/dpkg-deb", ["-R", deb, unpacked]).status == 0)
        let control = try String(contentsOfFile: unpacked + "/DEBIAN/control", encoding: .utf8)
        try control.replacingOccurrences(of: "Version: 1.0.0", with: "Version: 1.0.1").write(
            toFile: unpacked + "/DEBIAN/control", atomically: true, encoding: .utf8)
        let next = directory.path + "/next.deb"
        #expect(try Self.run("/usr/bin/dpkg-deb", ["-Zgzip", "-z1", "--root-owner-group", "-b", unpacked, next]).status == 0)
        let second = try Self.run("/usr/bin/dpkg", dpkg + [next])
        #expect(second.status == 0, "\(second.text)")
        #expect(try String(contentsOfFile: config, encoding: .utf8) == edited, "the operator's pipeline.yaml is kept")
        let version = try Self.run("/usr/bin/dpkg-query", ["--root=\(target)", "-W", "-f=${Version}", "pipeline-host"])
        #expect(version.text == "1.0.1")
    }
}
