import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Starts runner processes with `posix_spawn`, always from one thread that
/// lives as long as the host: a runner's `PR_SET_PDEATHSIG` is tied to the
/// thread that spawned it, so a pool thread that retires would take healthy
/// runners with it. `posix_spawn` (never a bare `fork` of the multi-threaded
/// host) with an empty signal mask, default handlers, stdin from /dev/null,
/// the runner's socket as fd 3 and every other descriptor closed.
final class RunnerSpawner: Sendable {
    static let shared = RunnerSpawner()

    private let work = Mutex<[@Sendable () -> Void]>([])
    private let wake = NSCondition()

    private init() {
        let thread = Thread { [self] in loop() }
        thread.name = "pipeline-host runner spawner"
        thread.start()
    }

    private func loop() {
        while true {
            wake.lock()
            while work.withLock({ $0.isEmpty }) { wake.wait() }
            wake.unlock()
            let items = work.withLock { items in
                defer { items.removeAll() }
                return items
            }
            for item in items { item() }
        }
    }

    /// Spawns `executable` with `arguments`, handing it `socket` as fd 3,
    /// and returns its pid.
    func spawn(executable: String, arguments: [String], environment: [String: String], socket: Int32) throws(WireError) -> pid_t {
        let result = Mutex<Result<pid_t, WireError>?>(nil)
        let done = NSCondition()
        let job: @Sendable () -> Void = {
            let outcome = Self.spawnNow(executable: executable, arguments: arguments, environment: environment, socket: socket)
            done.lock()
            result.withLock { $0 = outcome }
            done.signal()
            done.unlock()
        }
        wake.lock()
        work.withLock { $0.append(job) }
        wake.signal()
        wake.unlock()
        done.lock()
        while result.withLock({ $0 == nil }) { done.wait() }
        done.unlock()
        switch result.withLock({ $0 })! {
        case .success(let pid): return pid
        case .failure(let error): throw error
        }
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+), which Swift's Glibc module does not show.
    private static let closeFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()

    private static func spawnNow(
        executable: String, arguments: [String], environment: [String: String], socket: Int32
    ) -> Result<pid_t, WireError> {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        // dup2 onto 3 clears CLOEXEC; a socket that is 3 already is moved first.
        var source = socket
        var moved: Int32 = -1
        if socket == 3 {
            moved = fcntl(socket, F_DUPFD_CLOEXEC, 4)
            source = moved
        }
        defer { if moved >= 0 { close(moved) } }
        posix_spawn_file_actions_adddup2(&actions, source, 3)
        _ = closeFrom?(&actions, 4)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard status == 0 else {
            return .failure(WireError("posix_spawn \(executable): \(String(cString: strerror(status)))"))
        }
        return .success(pid)
    }
}

/// How a runner process ended, as the host names it in errors and logs.
public struct RunnerDeath: Sendable, Equatable, CustomStringConvertible {
    public enum Cause: Sendable, Equatable {
        /// Killed by a signal it did not catch (SIGSEGV, SIGABRT, SIGILL, an outside SIGKILL…).
        case signal(Int32)
        /// It exited by itself with this status.
        case exit(Int32)
        /// The host ended it: a call ran past its timeout and the grace.
        case hung(jobID: String)
        /// The host ended it: its memory passed `max_memory` (bytes).
        case memory(limit: Int64, resident: Int64)
        /// The host ended it: the protocol broke (a malformed frame, say).
        case protocolViolation(String)
        /// It ended (its socket closed), but its exit status was collected
        /// by other code in the host's process before the host could read it.
        case statusUnknown
    }

    public var cause: Cause
    public var pid: Int32

    /// Whether the host ended it because a call hung.
    public var isEndedForHang: Bool {
        if case .hung = cause { return true }
        return false
    }

    /// `SIGSEGV`, `exit 3`, `hung`, `out of memory`: the metric label.
    public var label: String {
        switch cause {
        case .signal(let number): Self.signalName(number)
        case .exit: "exit"
        case .hung: "hang"
        case .memory: "memory"
        case .protocolViolation: "protocol"
        case .statusUnknown: "unknown"
        }
    }

    public var description: String {
        switch cause {
        case .signal(let number): return Self.signalName(number)
        case .exit(let status): return "exit status \(status)"
        case .hung(let job): return "ended by the host: job \(job) ran past its timeout and the grace"
        case .memory(let limit, let resident):
            return "ended by the host at its max_memory of \(ByteSize.describe(limit)) (\(resident >> 20)MiB resident)"
        case .protocolViolation(let what): return "ended by the host: \(what)"
        case .statusUnknown: return "ended; its exit status was collected elsewhere in the host's process"
        }
    }

    static func signalName(_ number: Int32) -> String {
        let names: [Int32: String] = [
            SIGSEGV: "SIGSEGV", SIGABRT: "SIGABRT", SIGILL: "SIGILL", SIGBUS: "SIGBUS", SIGFPE: "SIGFPE", SIGKILL: "SIGKILL",
            SIGTERM: "SIGTERM", SIGTRAP: "SIGTRAP", SIGSYS: "SIGSYS", SIGPIPE: "SIGPIPE", SIGINT: "SIGINT", SIGHUP: "SIGHUP",
        ]
        return names[number] ?? "signal \(number)"
    }

    /// From `waitpid`'s status.
    static func from(status: Int32, pid: Int32) -> RunnerDeath {
        let signal = status & 0x7f
        if signal == 0 { return RunnerDeath(cause: .exit((status >> 8) & 0xff), pid: pid) }
        return RunnerDeath(cause: .signal(signal), pid: pid)
    }
}
