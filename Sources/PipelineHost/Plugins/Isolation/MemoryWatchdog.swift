import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Holds a runner to its plugin's `max_memory`.
///
/// Where the host may create a cgroup v2 child with the memory controller
/// (its own cgroup delegated to it, as under systemd with `Delegate=yes`),
/// the runner goes into one with `memory.max` set and `memory.oom.group` on,
/// and the kernel's OOM kill is the limit. Elsewhere (a container on cgroup
/// v1, this build machine among them) a watchdog thread reads the runner's
/// resident set every 50 ms and ends it with SIGKILL past the limit.
/// `RLIMIT_AS` is not used: it limits address space, and a Swift process
/// reserves many times its resident memory (thread stacks, malloc arenas), so
/// that under a limit near its real use a Swift plugin's threads fail to
/// start and it hangs instead of failing (plugin-isolation research, §2e).
enum MemoryWatchdog {
    /// How the limit is enforced here: `cgroup v2 memory.max` or `RSS watchdog`.
    static let mechanism: String = cgroupParent == nil ? "RSS watchdog" : "cgroup v2 memory.max"

    /// The host's own cgroup v2 folder, when it has the memory controller and
    /// may make children there.
    static let cgroupParent: String? = {
        guard let text = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("0::") })
        else { return nil }
        let folder = "/sys/fs/cgroup" + line.dropFirst(3)
        guard let controllers = try? String(contentsOfFile: folder + "/cgroup.subtree_control", encoding: .utf8),
            controllers.split(separator: " ").map({ $0.trimmingCharacters(in: .whitespacesAndNewlines) }).contains("memory"),
            access(folder, W_OK) == 0
        else { return nil }
        return folder
    }()

    /// Enforces `limit` bytes on `process` until it ends.
    static func watch(_ process: RunnerProcess, limit: Int64) {
        if let parent = cgroupParent, confine(process.pid, limit: limit, under: parent) { return }
        let thread = Thread {
            while !process.hasEnded {
                if let resident = residentBytes(process.pid), resident > limit {
                    process.kill(.memory(limit: limit, resident: resident))
                    return
                }
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
        thread.name = "pipeline-host runner \(process.pid) memory"
        thread.start()
    }

    /// Moves `pid` into a new cgroup with `memory.max`; false if it could not.
    static func confine(_ pid: pid_t, limit: Int64, under parent: String) -> Bool {
        let folder = parent + "/pipeline-runner-\(pid)"
        guard mkdir(folder, 0o755) == 0 || errno == EEXIST else { return false }
        for (file, value) in [("memory.max", String(limit)), ("memory.oom.group", "1"), ("cgroup.procs", String(pid))] {
            guard (try? value.write(toFile: folder + "/" + file, atomically: false, encoding: .utf8)) != nil else {
                rmdir(folder)
                return false
            }
        }
        return true
    }

    /// A process's resident set (VmRSS), in bytes.
    static func residentBytes(_ pid: pid_t) -> Int64? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kilobytes = Int64(line.split(separator: " ").dropFirst().first ?? "")
        else { return nil }
        return kilobytes.multipliedReportingOverflow(by: 1024).partialValue
    }
}
