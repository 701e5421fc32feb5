import Foundation
import PipelineHost
import Testing

/// The `pipeline-host` executable, run as an operator runs it.
@Suite struct CommandLineTests {
    struct Run: Sendable {
        var status: Int32
        var reason: Process.TerminationReason
        var output: String
        var errors: String
    }

    static func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> Run {
        try await onOwnThread { try runBlocking(arguments, environment: environment) }
    }

    static func runBlocking(_ arguments: [String], environment: [String: String]) throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ProductsDirectory.path + "/pipeline-host")
        process.arguments = arguments
        var inherited = ProcessInfo.processInfo.environment
        inherited.removeValue(forKey: "PIPELINE_PLUGIN_DIR")
        process.environment = inherited.merging(environment) { _, new in new }
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(
            status: process.terminationStatus, reason: process.terminationReason,
            output: String(decoding: outputData, as: UTF8.self), errors: String(decoding: errorData, as: UTF8.self))
    }

    @Test func validatePrintsTheJobTable() async throws {
        let run = try await Self.run(["validate", "--config", packageRoot + "/pipeline.yaml"])
        #expect(run.status == 0, "\(run.errors)")
        #expect(run.output.contains("OK, 9 job types, 4 plugins"))
        #expect(run.output.contains("JOB TYPE"))
        #expect(run.output.contains("library_recently_added_check  library"))
        #expect(run.output.contains("every 5m"))
    }

    @Test func validateReadsPipelineConfigFromTheEnvironment() async throws {
        let run = try await Self.run(["validate"], environment: ["PIPELINE_CONFIG": packageRoot + "/pipeline.yaml"])
        #expect(run.status == 0, "\(run.errors)")
    }

    @Test func validatePrintsEveryProblemAndExitsNonZero() async throws {
        let directory = try TemporaryDirectory()
        let file = try directory.write("pipeline.yaml", """
            plugins:
              echo: {path: libFixtureCEcho.so}
              gone: {path: libGone.so}
            jobs:
              echo: {plugin: echo, concurrency: -1, timeout: 10}
              more: {plugin: gone}
            """)
        let run = try await Self.run(["validate", "--config", file])
        #expect(run.reason == .exit && run.status == 1)
        #expect(run.errors.contains("\(file):3:16: plugins.gone: plugin "))
        #expect(run.errors.contains("\(file):5:37: jobs.echo.concurrency must be from 0 to 512, found -1"))
        #expect(run.errors.contains("\(file):5:50: jobs.echo.timeout: bad duration '10'"))
        #expect(run.errors.contains("3 problem(s) found"))
        #expect(run.output.isEmpty)
    }

    @Test(arguments: BrokenConfigurationTests.cases)
    func everyBrokenFileExitsNonZeroWithItsErrors(_ testCase: BrokenConfigurationTests.Case) async throws {
        let directory = try TemporaryDirectory()
        let file = directory.path + "/pipeline.yaml"
        try Data(testCase.bytes).write(to: URL(fileURLWithPath: file))
        let run = try await Self.run(["validate", "--config", file])
        #expect(run.reason == .exit && run.status == 1, "\(run.errors)")
        for (line, column, fragment) in testCase.expected {
            #expect(run.errors.contains("\(file):\(line):\(column): "), "\(run.errors)")
            #expect(run.errors.contains(fragment), "\(run.errors)")
        }
        #expect(run.errors.contains("\(testCase.expected.count) problem(s) found"))
    }

    @Test func hostileFilesNeverCrashTheHost() async throws {
        let directory = try TemporaryDirectory()
        let cases: [[UInt8]] = [
            [], [0xFF, 0xFE, 0x00], Array("\t- x".utf8), Array(String(repeating: "[", count: 100_000).utf8),
            Array("a: &a [*a]".utf8), Array("{".utf8), [0x00, 0x01, 0x02], Array("? [a]\n: b\n".utf8),
        ]
        for (index, bytes) in cases.enumerated() {
            let file = directory.path + "/case\(index).yaml"
            try Data(bytes).write(to: URL(fileURLWithPath: file))
            let run = try await Self.run(["validate", "--config", file])
            #expect(run.reason == .exit && run.status == 1, "case \(index): \(run.errors)")
            #expect(run.errors.hasPrefix("\(file):"), "case \(index): \(run.errors)")
        }
    }

    @Test func enqueueAndJobTalkToTheQueue() async throws {
        let redis = try RedisServer()
        let pipeline = try QueueTestPipeline(redis: redis)
        let added = try await Self.run([
            "enqueue", "work", "--config", pipeline.file, "--payload", #"{"mode":"probe"}"#, "--priority", "high",
            "--delay", "1h", "--job-id", "cli-1",
        ])
        #expect(added.status == 0, "\(added.errors)")
        #expect(added.output == "cli-1\n")
        let shown = try await Self.run(["job", "work", "cli-1", "--config", pipeline.file, "--json"])
        #expect(shown.status == 0, "\(shown.errors)")
        let job = try JSONSerialization.jsonObject(with: Data(shown.output.utf8)) as? [String: Any]
        #expect(job?["state"] as? String == "delayed")
        #expect(job?["data"] as? String == #"{"mode":"probe"}"#)
        let missing = try await Self.run(["job", "work", "nope", "--config", pipeline.file])
        #expect(missing.status == 1)
        #expect(missing.errors.contains("no job nope in job type work"))
        let unknown = try await Self.run(["enqueue", "nope", "--config", pipeline.file])
        #expect(unknown.status != 0)
        #expect(unknown.errors.contains("no job type 'nope'"))
        let badPayload = try await Self.run(["enqueue", "work", "--config", pipeline.file, "--payload", "[1]"])
        #expect(badPayload.errors.contains("--payload must be a JSON object"))
    }

    @Test func inspectShowsTheDescriptorOrTheRefusal() async throws {
        let good = try await Self.run(["plugin", "inspect", ProductsDirectory.plugin("FixtureSwiftEcho")])
        #expect(good.status == 0)
        #expect(good.output.contains("org.pipeline.fixture.swiftecho"))
        #expect(good.output.contains("swift.echo"))

        let json = try await Self.run(["plugin", "inspect", "--json", ProductsDirectory.plugin("LibraryABS")])
        let object = try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any]
        let descriptor = object?["descriptor"] as? [String: Any]
        #expect(descriptor?["jobTypes"] as? [String] == ["scan_library", "library_recently_added_check"])

        let refused = try await Self.run(["plugin", "inspect", "--json", ProductsDirectory.plugin("FixtureWrongMajor")])
        #expect(refused.status == 1)
        #expect(refused.output.contains("\"code\" : \"abiMajorMismatch\""))
    }

    /// Every flag in a command's usage line has a row in its page's table.
    @Test(arguments: [
        (["plugin", "run"], "docs/plugin-abi.md"), (["plugin", "inspect"], "docs/plugin-abi.md"),
        (["plugin", "test"], "docs/plugin-abi.md"),
        (["validate"], "docs/configuration.md"),
    ])
    func everyFlagIsDocumented(_ command: [String], _ page: String) async throws {
        let help = try await Self.run(command + ["--help"])
        let usage = try #require(help.output.split(separator: "\n").first { $0.hasPrefix("USAGE:") })
        let flags = usage.split(separator: " ").compactMap { word -> String? in
            let flag = word.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            return flag.hasPrefix("--") ? flag : nil
        }
        #expect(!flags.isEmpty)
        let text = try String(contentsOfFile: packageRoot + "/" + page, encoding: .utf8)
        for flag in flags where !["--help", "--version"].contains(flag) {
            #expect(text.contains("`\(flag)"), "\(command.joined(separator: " ")) \(flag) is not in \(page)")
        }
    }

    @Test func pluginRunShowsTheOutcome() async throws {
        let run = try await Self.run([
            "plugin", "run", ProductsDirectory.plugin("FixtureCEcho"), "echo", "--payload", #"{"mode":"effects"}"#,
        ])
        // The transition is checked and shown; with no queue, enqueue answers
        // PP_ERR_UNSUPPORTED (-3), as the header says, and the fixture fails.
        #expect(run.status == 1, "\(run.errors)")
        let shown = try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any]
        #expect(shown?["outcome"] as? String == "fail")
        #expect(shown?["message"] as? String == "enqueue refused (status -3)")
        let effects = shown?["effects"] as? [[String: Any]]
        #expect(effects?.count == 1)
        #expect(effects?.first?["status"] as? String == "searching")

        // The result is JSON, not an escaped string.
        let done = try await Self.run([
            "plugin", "run", ProductsDirectory.plugin("FixtureCEcho"), "echo", "--payload", #"{"mode":"done","n":[1,2]}"#,
        ])
        #expect(done.status == 0, "\(done.errors)")
        let result = (try JSONSerialization.jsonObject(with: Data(done.output.utf8)) as? [String: Any])?["result"] as? [String: Any]
        #expect(result?["n"] as? [Int] == [1, 2])

        let badAttempt = try await Self.run(["plugin", "run", ProductsDirectory.plugin("FixtureCEcho"), "echo", "--attempt", "4"])
        #expect(badAttempt.status != 0)
        #expect(badAttempt.errors.contains("need 1 ≤ attempt ≤ max-attempts ≤ 1000, got 4 of 3"))

        // No config: the plugin's init refuses, naming the setting.
        let failed = try await Self.run(["plugin", "run", ProductsDirectory.plugin("LibraryABS"), "scan_library"])
        #expect(failed.status != 0)
        #expect((failed.output + failed.errors).contains("url '' is not a URL such as http://127.0.0.1:13378"), "\(failed.output)\(failed.errors)")
    }
}
