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
