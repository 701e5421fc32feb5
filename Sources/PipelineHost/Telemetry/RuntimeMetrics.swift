import CoreMetrics
import Prometheus

/// The host's metrics, through swift-metrics into a Prometheus registry of
/// the runtime's own (no process-wide bootstrap, so that several runtimes
/// can share a process, as in the tests). `/metrics` emits the registry.
///
/// | metric | kind | labels |
/// |---|---|---|
/// | `pipeline_jobs_total` | counter | `job_type`, `outcome` (completed, failed, retried) |
/// | `pipeline_job_duration_seconds` | histogram | `job_type` |
/// | `pipeline_queue_jobs` | gauge | `job_type`, `state` (waiting, prioritized, delayed, active, completed, failed) |
/// | `pipeline_running_jobs` | gauge | `job_type` (on this host) |
/// | `pipeline_queue_script_errors_total` | counter | `job_type` |
/// | `pipeline_plugin_restarts_total` | counter | `plugin`, `cause` (SIGSEGV, hang, memory, exit, …) |
/// | `pipeline_plugin_calls_in_flight` | gauge | `plugin` (isolated, on this host) |
/// | `pipeline_plugin_runner_up` | gauge | `plugin` (isolated: 1 while a runner runs) |
public final class RuntimeMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    let factory: PrometheusMetricsFactory

    public init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(500), .seconds(1), .seconds(5),
            .seconds(30), .seconds(120), .seconds(600),
        ]
        self.factory = factory
    }

    func outcomes(for jobType: String) -> (completed: CoreMetrics.Counter, failed: CoreMetrics.Counter, retried: CoreMetrics.Counter) {
        func counter(_ outcome: String) -> CoreMetrics.Counter {
            CoreMetrics.Counter(label: "pipeline_jobs_total", dimensions: [("job_type", jobType), ("outcome", outcome)], factory: factory)
        }
        return (counter("completed"), counter("failed"), counter("retried"))
    }

    func duration(for jobType: String) -> CoreMetrics.Timer {
        CoreMetrics.Timer(label: "pipeline_job_duration_seconds", dimensions: [("job_type", jobType)], factory: factory)
    }

    /// Counts a runner's death (and the restart that follows).
    func runnerRestarted(plugin: String, cause: String) {
        CoreMetrics.Counter(label: "pipeline_plugin_restarts_total", dimensions: [("plugin", plugin), ("cause", cause)], factory: factory)
            .increment()
    }

    /// Sets the gauges from the queues and this host's workers.
    func refresh(_ runtime: PipelineRuntime) async {
        for (name, instance) in runtime.plugins where instance.runner != nil {
            let status = instance.isolationStatus
            CoreMetrics.Gauge(label: "pipeline_plugin_calls_in_flight", dimensions: [("plugin", name)], factory: factory)
                .record(status.inFlight)
            CoreMetrics.Gauge(label: "pipeline_plugin_runner_up", dimensions: [("plugin", name)], factory: factory)
                .record(status.pid == nil ? 0 : 1)
        }
        let running = runtime.runningJobs
        for (jobType, queue) in runtime.queues {
            CoreMetrics.Gauge(label: "pipeline_running_jobs", dimensions: [("job_type", jobType)], factory: factory)
                .record(running[jobType] ?? 0)
            guard let counts = try? await queue.counts() else { continue }
            for (state, count) in counts {
                CoreMetrics.Gauge(label: "pipeline_queue_jobs", dimensions: [("job_type", jobType), ("state", state.rawValue)], factory: factory)
                    .record(count)
            }
        }
    }
}
