import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// What a call waiting on a runner hears.
enum RunnerEvent: Sendable {
    /// The plugin called a host service the host must answer.
    case service(request: UInt64, RunnerProtocol.RemoteService)
    case finished(code: Int32, report: PluginCall.Report)
    case checked(status: Int32, message: String?)
    /// The runner died with `inFlight` calls in it (this one included).
    case died(RunnerDeath, inFlight: Int)
    // The control exchange at start.
    case loaded(PluginDescriptorInfo)
    case refused(code: String, problem: String, fix: String)
    case started
    case startFailed(String)
}

/// A queue one thread waits on and others fill.
final class BlockingQueue<Element: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [Element] = []

    func put(_ element: Element) {
        condition.lock()
        items.append(element)
        condition.signal()
        condition.unlock()
    }

    /// The next element, waiting as long as it takes.
    func take() -> Element {
        condition.lock()
        defer { condition.unlock() }
        while items.isEmpty { condition.wait() }
        return items.removeFirst()
    }
}

/// What hears a call's events from the reader thread.
protocol RunnerEventSink: Sendable {
    func put(_ event: RunnerEvent)
}

/// Where a call on the host waits for its runner, blocking a thread (a
/// runner's death always comes): the start-up exchange and checks.
typealias RunnerMailbox = BlockingQueue<RunnerEvent>

extension BlockingQueue: RunnerEventSink where Element == RunnerEvent {}

/// A job's call, awaited without holding a thread: the reader thread
/// resumes the waiting task when the call finishes or the runner dies, and
/// hands each host service the plugin asks for to `serve` (which answers it
/// on one of the job type's own threads, where it may block).
final class AsyncCallSink: RunnerEventSink, @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<RunnerEvent, Never>?
    private var early: RunnerEvent?
    private let serve: @Sendable (UInt64, RunnerProtocol.RemoteService) -> Void

    init(serve: @escaping @Sendable (UInt64, RunnerProtocol.RemoteService) -> Void) {
        self.serve = serve
    }

    func put(_ event: RunnerEvent) {
        if case .service(let request, let service) = event { return serve(request, service) }
        lock.lock()
        guard let waiting = continuation else {
            if early == nil { early = event }
            lock.unlock()
            return
        }
        continuation = nil
        lock.unlock()
        waiting.resume(returning: event)
    }

    /// The call's end: `finished` or `died`.
    func wait() async -> RunnerEvent {
        await withCheckedContinuation { (continuation: CheckedContinuation<RunnerEvent, Never>) in
            lock.lock()
            if let early {
                self.early = nil
                lock.unlock()
                continuation.resume(returning: early)
                return
            }
            self.continuation = continuation
            lock.unlock()
        }
    }
}

/// One running runner process: its socket, the thread that reads it, the
/// thread that waits for it to end, and the calls in it by id.
final class RunnerProcess: @unchecked Sendable {
    let pid: pid_t
    let channel: RunnerChannel
    let started = Date()
    let startedAt = ContinuousClock.now
    /// The start-up exchange (loaded, started).
    let control = RunnerMailbox()
    private let calls = Mutex<(boxes: [UInt64: any RunnerEventSink], jobs: [UInt64: String], death: RunnerDeath?)>(([:], [:], nil))
    /// Why the host killed it, when it did.
    private let hostCause = Mutex<RunnerDeath.Cause?>(nil)

    init(pid: pid_t, channel: RunnerChannel) {
        self.pid = pid
        self.channel = channel
    }

    /// The calls running in it now.
    var inFlight: Int { calls.withLock { $0.boxes.count } }

    /// Registers call `id` (running `jobID`, if a job) with `sink`; false
    /// once the process has died.
    func register(_ id: UInt64, jobID: String?, sink: any RunnerEventSink) -> Bool {
        calls.withLock { calls in
            guard calls.death == nil else { return false }
            calls.boxes[id] = sink
            if let jobID { calls.jobs[id] = jobID }
            return true
        }
    }

    func unregister(_ id: UInt64) {
        calls.withLock { calls in
            calls.boxes[id] = nil
            calls.jobs[id] = nil
        }
    }

    func send(_ command: RunnerProtocol.Command) throws(WireError) {
        try channel.send(RunnerProtocol.encode(command))
    }

    /// True once its exit status is collected: its pid may then belong to
    /// another process, so no signal is sent to it any more.
    private let reaped = Mutex<Bool>(false)

    /// Ends the process at once (SIGKILL), recording why; the first reason
    /// given is kept. Nothing happens once it has ended.
    func kill(_ cause: RunnerDeath.Cause) {
        hostCause.withLock { if $0 == nil { $0 = cause } }
        reaped.withLock { reaped in
            if !reaped { _ = Glibc.kill(pid, SIGKILL) }
        }
    }

    /// Who hears of its death, and a death that came before anyone listened.
    private let deathHandler = Mutex<(handler: (@Sendable (RunnerDeath, [String]) -> Void)?, pending: (RunnerDeath, [String])?)>((nil, nil))

    /// Whether the process has ended (its exit status was collected).
    var hasEnded: Bool { calls.withLock { $0.death != nil } }

    /// Calls `handler` when the process ends (at once if it has).
    func watchDeath(_ handler: @escaping @Sendable (RunnerDeath, _ jobs: [String]) -> Void) {
        let pending = deathHandler.withLock { state -> (RunnerDeath, [String])? in
            state.handler = handler
            defer { state.pending = nil }
            return state.pending
        }
        if let pending { handler(pending.0, pending.1) }
    }

    /// Starts the reader (frames to mailboxes) and the waiter (the exit
    /// status, then `died` to every call and to the death handler).
    func watch() {
        let readerDone = DispatchSemaphore(value: 0)
        let reader = Thread { [self] in
            read()
            readerDone.signal()
        }
        reader.name = "pipeline-host runner \(pid) reader"
        reader.start()
        let waiter = Thread { [self] in
            var status: Int32 = 0
            var collected = true
            // Waited for without reaping first: until it is reaped its pid
            // stays its own, so a kill racing its end never reaches a
            // process that took the pid over.
            var info = siginfo_t()
            while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) != 0 {
                if errno == EINTR { continue }
                // ECHILD: other code in this process (a library that reaps
                // every child) took its status: it has ended, but a status
                // of 0 here would be a lie.
                collected = false
                break
            }
            reaped.withLock { reaped in
                // A zombie now (or gone): this never blocks.
                if collected, waitpid(pid, &status, WNOHANG) != pid { collected = false }
                reaped = true
            }
            var death = collected ? RunnerDeath.from(status: status, pid: pid) : RunnerDeath(cause: .statusUnknown, pid: pid)
            if case .signal(SIGKILL) = death.cause, let cause = hostCause.withLock({ $0 }) { death.cause = cause }
            if !collected, let cause = hostCause.withLock({ $0 }) { death.cause = cause }
            // What it wrote before it ended is delivered before its death:
            // a refusal, a call that finished just before a crash. The
            // socket reaches its end once the process is gone, unless a
            // child of the plugin still holds it open; then it is cut.
            if readerDone.wait(timeout: .now() + .seconds(5)) == .timedOut {
                channel.close()
                readerDone.wait()
            }
            channel.close()
            let (boxes, jobs) = calls.withLock { calls in
                calls.death = death
                defer {
                    calls.boxes.removeAll()
                    calls.jobs.removeAll()
                }
                return (calls.boxes, calls.jobs)
            }
            for box in boxes.values { box.put(.died(death, inFlight: boxes.count)) }
            control.put(.died(death, inFlight: boxes.count))
            let taken = jobs.keys.sorted().compactMap { jobs[$0] }
            let handler = deathHandler.withLock { state -> (@Sendable (RunnerDeath, [String]) -> Void)? in
                if state.handler == nil { state.pending = (death, taken) }
                return state.handler
            }
            handler?(death, taken)
        }
        waiter.name = "pipeline-host runner \(pid) waiter"
        waiter.start()
    }

    private func read() {
        while true {
            let frame: [UInt8]?
            do {
                frame = try channel.receive()
            } catch {
                kill(.protocolViolation("its socket broke: \(error)"))
                return
            }
            guard let frame else { return }
            let report: RunnerProtocol.Report
            do {
                report = try RunnerProtocol.decodeReport(frame)
            } catch {
                kill(.protocolViolation("it sent a malformed message: \(error)"))
                return
            }
            switch report {
            case .finished(let call, let code, let report): box(call)?.put(.finished(code: code, report: report))
            case .checked(let call, let status, let message): box(call)?.put(.checked(status: status, message: message))
            case .service(let call, let request, let service): box(call)?.put(.service(request: request, service))
            case .loaded(let info): control.put(.loaded(info))
            case .refused(let code, let problem, let fix): control.put(.refused(code: code, problem: problem, fix: fix))
            case .started: control.put(.started)
            case .startFailed(let message): control.put(.startFailed(message))
            }
        }
    }

    private func box(_ call: UInt64) -> (any RunnerEventSink)? {
        calls.withLock { $0.boxes[call] }
    }
}
