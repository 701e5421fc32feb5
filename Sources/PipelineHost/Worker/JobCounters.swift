import CoreMetrics
import Synchronization

/// Counts the jobs a worker finished in Redis, by outcome, and tells an
/// observer: for metrics, and for benchmarks that time completions without
/// asking Redis.
public final class JobCounters: Sendable {
    private let completedCount = Atomic<Int>(0)
    private let failedCount = Atomic<Int>(0)
    private let retriedCount = Atomic<Int>(0)
    private let observer = Mutex<(@Sendable (Int) -> Void)?>(nil)
    private let metrics: (completed: CoreMetrics.Counter, failed: CoreMetrics.Counter, retried: CoreMetrics.Counter)?
    /// How long plugin calls take, for the duration histogram.
    let duration: CoreMetrics.Timer?

    init(jobType: String, metrics: RuntimeMetrics?) {
        self.metrics = metrics?.outcomes(for: jobType)
        duration = metrics?.duration(for: jobType)
    }

    public var completed: Int { completedCount.load(ordering: .relaxed) }
    public var failed: Int { failedCount.load(ordering: .relaxed) }
    public var retried: Int { retriedCount.load(ordering: .relaxed) }

    /// Calls `body` with the completed count each time it grows.
    public func observeCompleted(_ body: @escaping @Sendable (Int) -> Void) {
        observer.withLock { $0 = body }
    }

    func record(_ kinds: [JobFinish.Kind]) {
        var completed = 0
        for kind in kinds {
            switch kind {
            case .completed: completed += 1
            case .failed:
                failedCount.add(1, ordering: .relaxed)
                metrics?.failed.increment()
            case .retry:
                retriedCount.add(1, ordering: .relaxed)
                metrics?.retried.increment()
            case .reschedule, .handBack: break
            }
        }
        guard completed > 0 else { return }
        metrics?.completed.increment(by: completed)
        let total = completedCount.add(completed, ordering: .relaxed).newValue
        observer.withLock { $0 }?(total)
    }
}
