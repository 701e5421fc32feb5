import Foundation

/// Runs a task's jobs on the thread that waits for it: how PluginKit runs a
/// Swift plugin's `async` code on the host's worker thread, so that a plugin
/// that blocks never blocks Swift's shared cooperative pool.
final class WorkerThreadExecutor: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var finished = false

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Ends ``drain(checkingEvery:onCheck:)`` once the jobs in hand are run.
    func finish() {
        condition.lock()
        finished = true
        condition.signal()
        condition.unlock()
    }

    /// Runs jobs on the calling thread until ``finish()``, calling `onCheck`
    /// at least every `interval` while it waits.
    func drain(checkingEvery interval: TimeInterval, onCheck: () -> Void) {
        while true {
            condition.lock()
            while jobs.isEmpty && !finished {
                if !condition.wait(until: Date(timeIntervalSinceNow: interval)) {
                    condition.unlock()
                    onCheck()
                    condition.lock()
                }
            }
            if jobs.isEmpty && finished {
                condition.unlock()
                return
            }
            let batch = jobs
            jobs.removeAll(keepingCapacity: true)
            condition.unlock()
            for job in batch { job.runSynchronously(on: asUnownedTaskExecutor()) }
        }
    }
}

/// Runs `body` to completion on the calling thread (one of the host's worker
/// threads: the ABI promises as much) and returns its value. While it runs,
/// `isCancelled` is polled every 10 ms; once it says yes, the task is
/// cancelled, so `Task.sleep`, `URLSession` and `Task.checkCancellation()`
/// in the plugin stop.
package func runBlocking<T: Sendable>(isCancelled: @escaping () -> Bool, _ body: @escaping @Sendable () async -> T) -> T {
    let executor = WorkerThreadExecutor()
    let box = ResultBox<T>()
    let task = Task(executorPreference: executor) {
        box.value = await body()
        executor.finish()
    }
    var cancelled = false
    executor.drain(checkingEvery: 0.01) {
        if !cancelled, isCancelled() {
            cancelled = true
            task.cancel()
        }
    }
    return box.value!
}

/// Carries a value out of a task to the thread waiting for it.
final class ResultBox<T>: @unchecked Sendable {
    var value: T?
}
