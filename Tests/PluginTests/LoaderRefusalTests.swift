import Foundation
import PipelineHost
import Testing

/// Every way the loader refuses a plugin, each with a fixture plugin built by
/// the package, its own code and its own message.
@Suite struct LoaderRefusalTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var fixture: String
        var code: PluginLoadError.Code
        var problem: String
        var fix: String
        var testDescription: String { fixture }
    }

    static let cases: [Case] = [
        Case(fixture: "FixtureNoEntry", code: .noEntrySymbol,
             problem: "it does not export the entry symbol pipeline_plugin_entry_v1 (it exports pipeline_plugin_entry instead)",
             fix: "define `PP_EXPORT const pp_plugin_descriptor *pipeline_plugin_entry_v1(uint32_t, uint32_t)`"),
        Case(fixture: "FixtureWrongMajor", code: .abiMajorMismatch,
             problem: "it is built for plugin ABI 2.3; this host speaks ABI 1.3",
             fix: "rebuild the plugin against this host's pipeline_plugin.h (ABI 1.x)"),
        Case(fixture: "FixtureNewerMinor", code: .abiMinorTooNew,
             problem: "it is built for plugin ABI 1.7, newer than this host's 1.3",
             fix: "upgrade pipeline-host, or rebuild the plugin against the ABI 1.3 header"),
        Case(fixture: "FixtureLargeDirtyTail", code: .unknownTrailingFields,
             problem: "its descriptor is 120 bytes, larger than the 104 this host knows, and byte 104 is not zero",
             fix: "upgrade pipeline-host, or leave the fields this host does not know zero"),
        Case(fixture: "FixtureMissingField", code: .missingField,
             problem: "its descriptor's 'name' is empty",
             fix: "set 'name' to a non-empty static string"),
        Case(fixture: "FixtureNullFunction", code: .missingFunction,
             problem: "its descriptor's function 'execute' is NULL",
             fix: "every plugin must provide init, execute and shutdown"),
        Case(fixture: "FixtureBadSignature", code: .buildSignatureMismatch,
             problem: "it is built for \"pp1 aarch64-darwin-libc lp64\", and this host is \"pp1 x86_64-linux-gnu lp64\"",
             fix: "rebuild the plugin for this platform"),
    ]

    @Test(arguments: cases)
    func refused(_ testCase: Case) async throws {
        let path = builtPlugin(testCase.fixture)
        let error = await #expect(throws: PluginLoadError.self) { try await loadPlugin(path) }
        #expect(error?.code == testCase.code)
        #expect(error?.path == path)
        #expect(error?.problem.contains(testCase.problem) == true, "\(error?.problem ?? "")")
        #expect(error?.fix.contains(testCase.fix) == true, "\(error?.fix ?? "")")
        #expect(error?.description.hasPrefix("plugin \(path): ") == true)
    }

    @Test func missingFileAndNonLibrary() async throws {
        let missing = await #expect(throws: PluginLoadError.self) { try await loadPlugin("/nonexistent/libX.so") }
        #expect(missing?.code == .fileNotFound)
        let notALibrary = await #expect(throws: PluginLoadError.self) { try await loadPlugin(packageRoot + "/pipeline.yaml") }
        #expect(notALibrary?.code == .notLoadable)
        #expect(notALibrary?.problem.hasPrefix("dlopen failed: ") == true)
    }

    @Test func olderSmallerDescriptorLoadsWithTheMissingFieldsAbsent() async throws {
        let plugin = try await loadPlugin(builtPlugin("FixtureSmallStruct"))
        #expect(plugin.info.structSize == UInt32(PluginLoader.minimumDescriptorSize))
        // The fixture's bytes past struct_size hold a description and a check
        // function; the host must not have read them.
        #expect(plugin.info.description == nil)
        #expect(plugin.info.hasCheck == false)
        #expect(plugin.info.jobTypes == ["small.echo"])
    }

    @Test func largerDescriptorWithAZeroTailLoads() async throws {
        let plugin = try await loadPlugin(builtPlugin("FixtureLargeZeroTail"))
        #expect(plugin.info.structSize == UInt32(PluginLoader.hostDescriptorSize + 16))
        #expect(plugin.info.description == "A plugin the loader tests use.")
        #expect(plugin.info.hasCheck)
    }

    /// Variants of the C fixture built with `cc` here, each with one field
    /// wrong: the message quotes the value and tells the cases apart.
    @Test(arguments: [
        (#"#define FX_NAME NULL"#, "its descriptor's 'name' is NULL", "set 'name' to a static string"),
        (#"#define FX_NAME "\xff\xfe""#, "its descriptor's 'name' is not UTF-8", "write 'name' in UTF-8"),
        (#"#define FX_NAME """#, "its descriptor's 'name' is empty", "set 'name' to a non-empty static string"),
        (#"#define FX_JOB_TYPES "echo", "Bad Name!""#, "job type #2, 'Bad Name!', is not a valid name", "use letters, digits"),
        (#"#define FX_JOB_TYPES "echo", "a\033[2Jb""#, #"job type #2, 'a\u{1B}[2Jb', is not a valid name"#, "use letters"),
        (#"#define FX_JOB_TYPES "echo", """#, "job type #2 is an empty string", "end the list with NULL"),
    ])
    func fieldRefusalsQuoteTheValue(_ define: String, _ problem: String, _ fix: String) async throws {
        let directory = try temporaryFolder("refusal")
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = define + "\n#include \"\(packageRoot)/Tests/PluginTests/Fixtures/Common/fixture_plugin.h\"\n"
        let library = try await compileCPlugin(source, named: "variant", in: directory)
        let error = await #expect(throws: PluginLoadError.self) { try await loadPlugin(library) }
        #expect(error?.problem == problem)
        #expect(error?.fix.contains(fix) == true, "\(error?.fix ?? "")")
    }

    /// Names resolve one way everywhere, and dlopen always gets an absolute path.
    @Test func namesResolveToAbsolutePaths() throws {
        let environment = ["PIPELINE_PLUGIN_DIR": "/opt/plugins"]
        #expect(PluginLoader.resolve("libX.so", environment: environment) == "/opt/plugins/libX.so")
        #expect(PluginLoader.resolve("libX.so", environment: [:]) == ProductsDirectory.path + "/libX.so")
        #expect(PluginLoader.resolve("/a/../b/libX.so", environment: environment) == "/b/libX.so")
        let here = FileManager.default.currentDirectoryPath
        #expect(PluginLoader.resolve("./sub/libX.so", environment: environment) == here + "/sub/libX.so")
        // A missing file's fix speaks to a C author, not only to this package.
        let missing = PluginLoader.resolve("libNoSuchPlugin.so", environment: environment)
        let error = #expect(throws: PluginLoadError.self) { try PluginLoader.load(path: missing) }
        #expect(error?.path == "/opt/plugins/libNoSuchPlugin.so")
        #expect(error?.fix.contains("cc -shared -fPIC") == true)
    }

    @Test func duplicateJobTypeIsRefused() async throws {
        var set = PluginSet()
        try set.add(await loadPlugin(builtPlugin("FixtureCEcho")), as: "cecho")
        let duplicate = try await loadPlugin(builtPlugin("FixtureDuplicateType"))
        let error = #expect(throws: PluginLoadError.self) { try set.add(duplicate, as: "dup") }
        #expect(error?.code == .duplicateJobType)
        #expect(error?.problem.contains("it claims job type 'echo', which plugin 'cecho'") == true)
        #expect(error?.fix.contains("each job type needs exactly one plugin") == true)
        #expect(set.members.count == 1)
    }

    @Test func initThatFailsIsRefusedWithThePluginsReason() async throws {
        let plugin = try await loadPlugin(builtPlugin("FixtureInitFails"))
        let error = #expect(throws: PluginLoadError.self) {
            try plugin.start(name: "fixture", configJSON: "{}", logger: .silent)
        }
        #expect(error?.code == .initFailed)
        #expect(error?.problem == "init failed: api_key is missing: set plugins.fixture.config.api_key")
        #expect(error?.fix == "fix plugins.fixture.config in pipeline.yaml")
    }

    @Test func swiftPluginInitFailureNamesTheSetting() async throws {
        let plugin = try await loadPlugin(builtPlugin("FixtureSwiftEcho"))
        let error = #expect(throws: PluginLoadError.self) {
            try plugin.start(name: "echo", configJSON: #"{"greting":"hi"}"#, logger: .silent)
        }
        #expect(error?.problem == "init failed: bad plugin config: missing field 'greeting'")
    }

    @Test func eachRefusalHasItsOwnMessage() async {
        var problems: Set<String> = []
        for testCase in Self.cases {
            do {
                _ = try await loadPlugin(builtPlugin(testCase.fixture))
            } catch let error as PluginLoadError {
                problems.insert(error.problem)
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
        #expect(problems.count == Self.cases.count)
    }
}
