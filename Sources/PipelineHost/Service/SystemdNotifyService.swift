import Foundation
import ServiceLifecycle
import Synchronization

/// The host's side of a `Type=notify` systemd unit, as one service of the
/// run's service group (listed last, so that a graceful shutdown reaches it
/// first):
///
/// - `READY=1` once the queue (Redis answered), the history (the schema is
///   migrated) and the admin API (it listens) answer;
/// - `WATCHDOG=1` every half `WATCHDOG_USEC` from then on, from a task on
///   the same cooperative pool as the workers: a wedged pool stops the pings,
///   and systemd restarts the host;
/// - `STOPPING=1` as soon as a graceful shutdown starts (SIGTERM).
public struct SystemdNotifyService: Service {
    let notifier: SystemdNotifier
    let runtime: PipelineRuntime
    let adminAnswers: ReadinessFlag?

    /// - Parameter adminListening: raised once the admin API listens; nil
    ///   when the admin API is off.
    public init(notifier: SystemdNotifier, runtime: PipelineRuntime, adminListening: ReadinessFlag?) {
        self.notifier = notifier
        self.runtime = runtime
        self.adminAnswers = adminListening
    }

    /// Whether every part the host offers answers.
    var isReady: Bool {
        runtime.redis.reachability.snapshot.state == .ok && runtime.isHistoryReady
            && (adminAnswers?.isRaised ?? true)
    }

    public func run() async throws {
        let notifier = notifier
        await withGracefulShutdownHandler {
            let step = min(.milliseconds(100), (notifier.watchdogInterval ?? .seconds(1)) / 4)
            var ready = false
            var lastPing = ContinuousClock.now
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                if !ready, isReady {
                    ready = true
                    notifier.ready(status: "taking jobs of \(runtime.configuration.jobs.count) job types")
                    lastPing = .now
                }
                if ready, let interval = notifier.watchdogInterval, ContinuousClock.now - lastPing >= interval / 2 {
                    notifier.watchdog()
                    lastPing = .now
                }
                try? await Task.sleep(for: step)
            }
        } onGracefulShutdown: {
            notifier.stopping()
        }
    }
}

/// A flag raised once, by one task, and read by others.
public final class ReadinessFlag: Sendable {
    private let raised = Atomic<Bool>(false)

    public init() {}

    public func raise() { raised.store(true, ordering: .releasing) }

    public var isRaised: Bool { raised.load(ordering: .acquiring) }
}
