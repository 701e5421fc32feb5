import DownloadClientKit
@testable import DriverJobs
import Foundation
import Glibc
import Logging
import PipelineHost
import Testing

/// Secrets that must not reach a message, a record or a log, and log lines
/// that must stay one line each (hardening #12), and plugin builds that must
/// come from the host's own copies (hardening #8).
@Suite struct SecretsAndLinesTests {
    @Test func redisURLErrorsNeverShowThePassword() {
        for text in [
            "redis://:hunter2@127.0.0.1:6379/x", "redis://user:hunter2@127.0.0.1:99999", "rediss://:hunter2@host",
            "http://hunter2@host", "redis://:hunter2@", "redis://hunter2@127.0.0.1/notadb",
        ] {
            #expect(performing: { _ = try RedisURL(parsing: text) }, throws: { error in
                !"\(error)".contains("hunter2") && "\(error)".contains("***")
            })
        }
    }

    @Test func magnetLinksAreRecordedWithoutTheirTrackersPasskeys() {
        let magnet = "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&dn=Emma"
            + "&tr=https%3A%2F%2Ftracker.example%3A443%2Fa1b2c3d4e5f6a7b8c9d0%2Fannounce"
            + "&tr=udp%3A%2F%2Fopen.example%3A1337%2Fannounce%3Fpasskey%3Ddeadbeefdeadbeef"
        let shown = MagnetLink.redactingSecrets(magnet)
        #expect(!shown.contains("a1b2c3d4e5f6a7b8c9d0") && !shown.contains("deadbeef"), "\(shown)")
        #expect(shown.contains("xt=urn:btih:0123456789abcdef0123456789abcdef01234567") && shown.contains("dn=Emma"))
        #expect(shown.contains("tracker.example"), "the tracker's host stays, for the record")
    }

    @Test func everyLogLineEscapesControlCharacters() {
        let escaped = EscapingLogHandler.escape("one\ntwo\r\u{1B}[31mred\u{1B}[0m\u{7}\u{202E}txt.exe\u{2028}")
        #expect(escaped == #"one\ntwo\r\u{1B}[31mred\u{1B}[0m\u{7}\u{202E}txt.exe\u{2028}"#)
        #expect(EscapingLogHandler.escape("plain – text") == "plain – text")
    }

    /// A plugin's log line with a newline and terminal escapes reaches the
    /// host's log as one escaped line.
    @Test func aPluginsLogLineReachesTheHostLogEscaped() async throws {
        let pipeline = try await HostedPipeline(jobs: "  work: {plugin: probe}")
        let queue = try pipeline.queue("work")
        let id = try await queue.add(dataJSON: #"{"mode":"log_raw"}"#)
        try await eventually("the job ran") { try await queue.job(id)?.state == .completed }
        try await eventually("the line is logged") { pipeline.host.output.contains("first line") }
        let output = pipeline.host.output
        #expect(!output.unicodeScalars.contains("\u{1B}"), "no raw escape reached the log")
        #expect(output.contains(#"first line\nforged: [error] second line \u{1B}[31mred"#), "\(output.suffix(600))")
        #expect(!output.split(separator: "\n").contains { $0.hasPrefix("forged") }, "no forged entry")
        try await pipeline.stop()
    }

    /// Hardening #8: a new build is copied into a folder the host made for
    /// itself; a file planted where the copy used to go is never loaded.
    @Test func aNewBuildIsCopiedIntoAPrivateFolderAndAPlantedFileIsNeverLoaded() async throws {
        let directory = try TemporaryDirectory()
        let plugin = directory.path + "/libProbe.so"
        try FileManager.default.copyItem(atPath: ProductsDirectory.plugin("FixtureCEcho"), toPath: plugin)
        let first = try await onOwnThread { try PluginLoader.load(path: plugin) }
        #expect(first.imagePath == plugin)
        var build = try Data(contentsOf: URL(fileURLWithPath: plugin))
        build.append(0)
        try FileManager.default.removeItem(atPath: plugin)
        try build.write(to: URL(fileURLWithPath: plugin))
        // Where the copy of this build used to go (a name anyone could predict): plant another plugin there.
        var info = stat()
        stat(plugin, &info)
        let shared = FileManager.default.temporaryDirectory.appendingPathComponent("pipeline-host-plugin-builds-\(getpid())").path
        try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: true)
        let predicted = "\(shared)/\(info.st_ino)-\(Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec))-libProbe.so"
        try? FileManager.default.removeItem(atPath: predicted)
        try FileManager.default.copyItem(atPath: ProductsDirectory.plugin("FixtureSwiftEcho"), toPath: predicted)
        defer { try? FileManager.default.removeItem(atPath: shared) }

        let second = try await onOwnThread { try PluginLoader.load(path: plugin) }
        #expect(second.info.id == first.info.id, "the new build itself was loaded, not the planted file: \(second.info.id)")
        #expect(second.imagePath != predicted && second.imagePath != plugin)
        let folder = (second.imagePath as NSString).deletingLastPathComponent
        var folderInfo = stat()
        #expect(lstat(folder, &folderInfo) == 0 && folderInfo.st_mode & 0o777 == 0o700 && folderInfo.st_uid == geteuid())
    }

    /// Hardening #8: a host removes its copies of new builds when it stops.
    @Test func aStoppingHostRemovesItsCopiesOfNewBuilds() async throws {
        let directory = try TemporaryDirectory()
        let plugin = directory.path + "/libProbe.so"
        try FileManager.default.copyItem(atPath: ProductsDirectory.plugin("FixtureCEcho"), toPath: plugin)
        let pipeline = try await HostedPipeline(jobs: "  work: {plugin: probe}", plugin: plugin, isolation: "none")
        var build = try Data(contentsOf: URL(fileURLWithPath: plugin))
        build.append(0)
        try FileManager.default.removeItem(atPath: plugin)
        try build.write(to: URL(fileURLWithPath: plugin))
        pipeline.host.child.signal(SIGHUP)
        let maps = "/proc/\(pipeline.host.child.pid)/maps"
        var copy = ""
        try await eventually("the new build is mapped from a copy") {
            let text = String(decoding: (FileHandle(forReadingAtPath: maps)?.readDataToEndOfFile()) ?? Data(), as: UTF8.self)
            copy = text.split(separator: "\n").map { String($0.split(separator: " ").last ?? "") }
                .first { $0.contains("pipeline-host-plugins-") && $0.hasSuffix("libProbe.so") } ?? ""
            return !copy.isEmpty
        }
        let folder = (copy as NSString).deletingLastPathComponent
        #expect(FileManager.default.fileExists(atPath: folder))
        try await pipeline.completesAJob(of: "work")
        try await pipeline.stop()
        #expect(!FileManager.default.fileExists(atPath: folder), "the copies go when the host stops")
    }
}
