import Foundation
import Logging
import PipelineHost

extension Logger {
    /// A logger that drops everything, for tests that do not read logs.
    static let silent = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
}

/// The path of a plugin product built by the package.
func builtPlugin(_ product: String) -> String {
    ProductsDirectory.plugin(product)
}

/// The package's root directory, for reading committed files.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// Runs `body` on a thread of its own and waits without blocking: dlopen of a
/// cold plugin and a plugin's `init` can take seconds on a fresh machine, and
/// on Swift's cooperative pool (two threads here) they would stall the
/// timeouts of every other test meanwhile.
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
    }
}

/// Loads the plugin at `path`, off the cooperative pool.
func loadPlugin(_ path: String) async throws -> LoadedPlugin {
    try await offPool { try PluginLoader.load(path: path) }
}

/// Loads `product` and starts an instance, off the cooperative pool.
func startPlugin(_ product: String, name: String? = nil, config: String = "{}") async throws -> PluginInstance {
    try await offPool {
        try PluginLoader.load(path: builtPlugin(product)).start(name: name ?? product, configJSON: config, logger: .silent)
    }
}

/// Runs one job through a freshly started instance of `product`.
func runJob(
    _ product: String, _ jobType: String, payload: String, config: String = "{}", timeout: Duration = .seconds(10),
    cancelGrace: Duration = .seconds(5),
    effects: PluginEffectPolicy = PluginEffectPolicy(enqueue: .jobTypes(["echo"]), offersRequestTransitions: true)
) async throws -> PluginCallOutcome {
    let instance = try await startPlugin(product, config: config)
    let executor = BlockingExecutor(threads: 2)
    let outcome = await instance.execute(
        PluginJob(id: "job-1", type: jobType, attempt: 2, maxAttempts: 3, payloadJSON: payload), on: executor,
        timeout: timeout, cancelGrace: cancelGrace, effects: effects)
    await executor.shutdown()
    return outcome
}

/// Builds a C plugin from `source` with plain `cc`, against the header alone,
/// with the flags docs/plugin-abi.md gives, into `directory`; returns the
/// library's path. `cc` runs (and is waited for) off the cooperative pool.
func compileCPlugin(_ source: String, named name: String, in directory: URL) async throws -> String {
    let sourcePath = directory.appendingPathComponent("\(name).c").path
    let library = directory.appendingPathComponent("lib\(name).so").path
    try source.write(toFile: sourcePath, atomically: true, encoding: .utf8)
    let (status, diagnostics) = try await offPool { () throws -> (Int32, String) in
        let compiler = Process()
        compiler.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        compiler.arguments = [
            "cc", "-shared", "-fPIC", "-fvisibility=hidden", "-O2", "-Wall", "-Werror",
            "-I", packageRoot + "/Sources/PluginABI/include", "-o", library, sourcePath,
        ]
        let errors = Pipe()
        compiler.standardError = errors
        try compiler.run()
        let diagnostics = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        compiler.waitUntilExit()
        return (compiler.terminationStatus, diagnostics)
    }
    guard status == 0 else { throw CompileFailure(diagnostics: diagnostics) }
    return library
}

struct CompileFailure: Error, CustomStringConvertible {
    var diagnostics: String
    var description: String { "cc failed: \(diagnostics)" }
}

/// A fresh folder under the temporary directory, for one test.
func temporaryFolder(_ prefix: String) throws -> URL {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory
}
