import Foundation
import PipelineHost
import Testing

/// A third party's plugin: the complete C plugin that ends docs/plugin-abi.md,
/// built outside the package with plain `cc` against the header alone, loads
/// and runs a job beside our own plugins.
@Suite struct ThirdPartyPluginTests {
    /// The last C code block of docs/plugin-abi.md.
    static func documentedPlugin() throws -> String {
        let document = try String(contentsOfFile: packageRoot + "/docs/plugin-abi.md", encoding: .utf8)
        let start = try #require(document.range(of: "```c\n", options: .backwards))
        let end = try #require(document.range(of: "\n```", range: start.upperBound..<document.endIndex))
        return String(document[start.upperBound..<end.lowerBound])
    }

    @Test func documentedCPluginBuiltWithCCLoadsAndRunsAJob() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("third-party-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = directory.appendingPathComponent("hello.c").path
        let library = directory.appendingPathComponent("libhello.so").path
        try Self.documentedPlugin().write(toFile: source, atomically: true, encoding: .utf8)

        // The exact command docs/plugin-abi.md gives.
        // cc runs (and is waited for) off the cooperative pool.
        let (status, diagnostics) = try await offPool { () throws -> (Int32, String) in
            let compiler = Process()
            compiler.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            compiler.arguments = [
                "cc", "-shared", "-fPIC", "-fvisibility=hidden", "-O2", "-Wall", "-Werror",
                "-I", packageRoot + "/Sources/PluginABI/include", "-o", library, source,
            ]
            let errors = Pipe()
            compiler.standardError = errors
            try compiler.run()
            let diagnostics = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            compiler.waitUntilExit()
            return (compiler.terminationStatus, diagnostics)
        }
        try #require(status == 0, "cc failed: \(diagnostics)")

        let plugin = try await loadPlugin(library)
        #expect(plugin.info.id == "org.example.hello")
        #expect(plugin.info.buildSignature == PluginLoader.platformSignature)
        #expect(plugin.info.jobTypes == ["hello.greet"])

        // Beside our own plugins, in one set and one process.
        var plugins = PluginSet()
        try plugins.add(await loadPlugin(builtPlugin("FixtureSwiftEcho")), as: "swift")
        try plugins.add(plugin, as: "hello")

        let instance = try plugin.start(name: "hello", configJSON: "{}", logger: .silent)
        let executor = BlockingExecutor(threads: 1)
        let outcome = await instance.execute(
            PluginJob(id: "job-42", type: "hello.greet", attempt: 2, maxAttempts: 3), on: executor, timeout: .seconds(10),
            effects: .none)
        await instance.shutdown()
        await executor.shutdown()
        #expect(outcome.kind == .done)
        #expect(outcome.resultJSON == #"{"greeting":"hello","job":"job-42","attempt":2}"#)
        #expect(outcome.report.events.map(\.message) == ["greeting"])
        #expect(outcome.report.progress?.percent == 100)
    }
}
