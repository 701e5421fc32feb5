import Foundation
import NIOPosix
import Synchronization

/// Runs blocking work (plugin calls, and later libpq and hiredis calls) on
/// dedicated threads, never on Swift's cooperative pool, where a blocked
/// call would stall every task of the process.
public final class BlockingExecutor: Sendable {
    /// How a call with a deadline ended.
    public enum TimedResult<Value: Sendable>: Sendable {
        /// It returned; `afterDeadline` if only once the deadline had passed
        /// and the work had been told to stop.
        case completed(Value, afterDeadline: Bool)
        /// It did not return within the deadline and the grace period after
        /// it. The work may still be running on its thread.
        case abandoned
        /// The executor is shut down and did not run it.
        case rejected
    }

    private let pool: NIOThreadPool
    /// The number of threads.
    public let threads: Int

    public init(threads: Int) {
        self.threads = max(1, threads)
        pool = NIOThreadPool(numberOfThreads: self.threads)
        pool.start()
    }

    /// Runs `body` on one of the executor's threads and returns its value,
    /// or `nil` if the executor is shut down.
    public func run<Value: Sendable>(_ body: @escaping @Sendable () -> Value) async -> Value? {
        try? await pool.runIfActive(body)
    }

    /// Runs `body` on one of the executor's threads without waiting for it
    /// (nothing runs once the executor is shut down).
    public func submit(_ body: @escaping @Sendable () -> Void) {
        pool.submit { state in
            guard case .active = state else { return }
            body()
        }
    }

    /// Runs `body` with a deadline: when `deadline` has passed since `body`
    /// started on its thread (time spent waiting for a thread does not count),
    /// `onDeadline` is called (to ask the work to stop), and if the work has
    /// not returned `grace` later, the caller stops waiting for it.
    public func run<Value: Sendable>(
        deadline: Duration, grace: Duration, onDeadline: @escaping @Sendable () -> Void,
        _ body: @escaping @Sendable () -> Value
    ) async -> TimedResult<Value> {
        await withCheckedContinuation { (continuation: CheckedContinuation<TimedResult<Value>, Never>) in
            let once = ResumeOnce(continuation)
            pool.submit { state in
                guard case .active = state else {
                    once.resume(.rejected)
                    return
                }
                let passed = Atomic<Bool>(false)
                let returned = Atomic<Bool>(false)
                // The timer runs on a queue of its own, not on Swift's
                // cooperative threads: a deadline holds even when those are
                // all busy.
                Self.timers.asyncAfter(deadline: .now() + .milliseconds(Int(deadline.milliseconds))) {
                    guard !returned.load(ordering: .sequentiallyConsistent) else { return }
                    passed.store(true, ordering: .sequentiallyConsistent)
                    onDeadline()
                    Self.timers.asyncAfter(deadline: .now() + .milliseconds(Int(grace.milliseconds))) {
                        guard !returned.load(ordering: .sequentiallyConsistent) else { return }
                        once.resume(.abandoned)
                    }
                }
                let value = body()
                returned.store(true, ordering: .sequentiallyConsistent)
                once.resume(.completed(value, afterDeadline: passed.load(ordering: .sequentiallyConsistent)))
            }
        }
    }

    /// Where deadlines are timed: a serial queue, which gets a thread of its
    /// own however busy the cooperative pool is.
    private static let timers = DispatchQueue(label: "pipeline-host.deadlines")

    /// Stops taking work and lets the threads end once their work is done.
    /// Does not wait: a thread stuck in a plugin that ignores cancellation
    /// must not hold up the process.
    public func shutdown() async {
        pool.shutdownGracefully { _ in }
    }
}

/// Resumes a continuation the first time only.
private final class ResumeOnce<Value: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<Value, Never>?>

    init(_ continuation: CheckedContinuation<Value, Never>) {
        self.continuation = Mutex(continuation)
    }

    func resume(_ value: Value) {
        let pending = continuation.withLock { stored in
            defer { stored = nil }
            return stored
        }
        pending?.resume(returning: value)
    }
}

/// Runs `body` on a new thread of its own and waits for it without holding
/// a cooperative thread: for rare blocking work with no executor at hand
/// (starting a runner process and waiting for its answer, say).
func onOwnThread<Value: Sendable>(_ body: @escaping @Sendable () -> Value) async -> Value {
    await withCheckedContinuation { continuation in
        Thread.detachNewThread { continuation.resume(returning: body()) }
    }
}
