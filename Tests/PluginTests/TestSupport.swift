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

/// Runs one job through a freshly started instance of `product`.
func runJob(
    _ product: String, _ jobType: String, payload: String, config: String = "{}", timeout: Duration = .seconds(10),
    cancelGrace: Duration = .seconds(5),
    effects: PluginEffectPolicy = PluginEffectPolicy(enqueue: .jobTypes(["echo"]), offersRequestTransitions: true)
) async throws -> PluginCallOutcome {
    let instance = try PluginLoader.load(path: builtPlugin(product)).start(name: product, configJSON: config, logger: .silent)
    let executor = BlockingExecutor(threads: 2)
    let outcome = await instance.execute(
        PluginJob(id: "job-1", type: jobType, attempt: 2, maxAttempts: 3, payloadJSON: payload), on: executor,
        timeout: timeout, cancelGrace: cancelGrace, effects: effects)
    await executor.shutdown()
    return outcome
}
