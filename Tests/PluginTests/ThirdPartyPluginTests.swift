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
        let directory = try temporaryFolder("third-party")
        defer { try? FileManager.default.removeItem(at: directory) }
        // The exact command docs/plugin-abi.md gives.
        let library = try await compileCPlugin(Self.documentedPlugin(), named: "hello", in: directory)

        let plugin = try await loadPlugin(library)
        #expect(plugin.info.id == "org.example.hello")
        #expect(plugin.info.buildSignature == PluginLoader.platformSignature)
        #expect(plugin.info.jobTypes == ["hello.greet"])

        // Beside our own plugins, in one set and one process.
        var plugins = PluginSet()
        try plugins.add(await loadPlugin(builtPlugin("FixtureSwiftEcho")), as: "swift")
        try plugins.add(plugin, as: "hello")

        // Two instances of the one file (what a reload runs beside the old
        // one): each keeps its own state, as the page teaches.
        let instance = try plugin.start(name: "hello", configJSON: "{}", logger: .silent)
        let other = try plugin.start(name: "hello-2", configJSON: "{}", logger: .silent)
        let executor = BlockingExecutor(threads: 1)
        let outcome = await instance.execute(
            PluginJob(id: "job-42", type: "hello.greet", attempt: 2, maxAttempts: 3), on: executor, timeout: .seconds(10),
            effects: .none)
        let second = await instance.execute(PluginJob(id: "job-43", type: "hello.greet"), on: executor, timeout: .seconds(10), effects: .none)
        let fromOther = await other.execute(PluginJob(id: "job-44", type: "hello.greet"), on: executor, timeout: .seconds(10), effects: .none)
        await instance.shutdown()
        await other.shutdown()
        await executor.shutdown()
        #expect(outcome.kind == .done)
        #expect(outcome.resultJSON == #"{"greeting":"hello","job":"job-42","attempt":2,"greeted":1}"#)
        #expect(second.resultJSON?.contains(#""greeted":2"#) == true && fromOther.resultJSON?.contains(#""greeted":1"#) == true)
        #expect(outcome.report.events.map(\.message) == ["greeting"])
        #expect(outcome.report.progress?.percent == 100)
    }
}
