import Foundation

/// What one configuration decides in a running host: its queues, a worker
/// per job type, the plugin instances they run, and the threads the plugin
/// calls run on. A reload puts a new generation in force and retires the old
/// one once its running jobs are done; plugins whose file, build and config
/// did not change carry over from one generation to the next.
final class RuntimeGeneration: Sendable {
    let configuration: PipelineConfiguration
    let queues: [String: JobQueue]
    let workers: [QueueWorker]
    /// By their pipeline.yaml name.
    let instances: [String: PluginInstance]
    let executor: BlockingExecutor

    init(
        configuration: PipelineConfiguration, queues: [String: JobQueue], workers: [QueueWorker],
        instances: [String: PluginInstance], executor: BlockingExecutor
    ) {
        self.configuration = configuration
        self.queues = queues
        self.workers = workers
        self.instances = instances
        self.executor = executor
    }

    /// A placeholder before the first generation is built.
    static func empty(_ configuration: PipelineConfiguration, executor: BlockingExecutor) -> RuntimeGeneration {
        RuntimeGeneration(configuration: configuration, queues: [:], workers: [], instances: [:], executor: executor)
    }

    /// Threads for starting plugins (`init`) and for their checks. Each
    /// worker runs its jobs on threads of its own (one per slot), so that
    /// calls of one job type that never return cannot take another's threads.
    static func makeExecutor() -> BlockingExecutor {
        BlockingExecutor(threads: 2)
    }
}

/// The runtime's changing part, under its lock.
struct RuntimeState: Sendable {
    var generation: RuntimeGeneration
    /// Workers of earlier generations, draining or done.
    var retired: [QueueWorker] = []
    /// Set once the host began to stop: no reload after that.
    var isStopping = false
}
