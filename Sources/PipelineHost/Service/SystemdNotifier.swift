import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Tells systemd how the service is doing, through the notify socket of a
/// `Type=notify` unit: `READY=1`, `STOPPING=1`, `WATCHDOG=1` and `STATUS=…`.
///
/// Written against the documented protocol (sd_notify(3)): one datagram per
/// message to the `AF_UNIX` socket that `NOTIFY_SOCKET` names, a path or,
/// with a leading `@`, an abstract name. No libsystemd: the protocol is a
/// datagram of text, and a host built without libsystemd runs the same in a
/// container or on a machine without systemd, where `NOTIFY_SOCKET` is unset
/// and every call does nothing.
public struct SystemdNotifier: Sendable {
    /// The socket address, or nil when the service is not under systemd.
    let socketPath: String?
    /// How often systemd expects a watchdog ping (`WATCHDOG_USEC`), when it
    /// expects them from this process (`WATCHDOG_PID` unset or ours).
    public let watchdogInterval: Duration?

    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` from `environment`.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment, pid: Int32 = getpid()) {
        let path = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        // Only an absolute path or an abstract name (sd_notify(3)); anything else is ignored.
        socketPath = path.flatMap { $0.hasPrefix("/") || $0.hasPrefix("@") ? $0 : nil }
        let forUs = environment["WATCHDOG_PID"].map { Int32($0) == pid } ?? true
        if forUs, let text = environment["WATCHDOG_USEC"], let micros = UInt64(text), micros > 0, micros <= 86_400_000_000 {
            watchdogInterval = .microseconds(Int64(micros))
        } else {
            watchdogInterval = nil
        }
    }

    /// Whether the service runs under systemd's notify protocol.
    public var isActive: Bool { socketPath != nil }

    /// The host answers: its queue, its history and its admin API.
    public func ready(status: String) { send("READY=1\nSTATUS=\(Self.line(status))") }

    /// The host is stopping: systemd waits for it rather than killing it at once.
    public func stopping() { send("STOPPING=1\nSTATUS=stopping") }

    /// The host is alive: systemd restarts it when pings stop for `WatchdogSec`.
    public func watchdog() { send("WATCHDOG=1") }

    /// A line for `systemctl status`.
    public func status(_ text: String) { send("STATUS=\(Self.line(text))") }

    /// A status line: one line, no control characters, at most 200 bytes.
    static func line(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F }.prefix(200)))
    }

    /// Sends `message` as one datagram; failures are ignored, as sd_notify's are
    /// (the service must run the same whether systemd listens or not).
    func send(_ message: String) {
        guard let socketPath else { return }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var path = Array(socketPath.utf8)
        if path.first == UInt8(ascii: "@") { path[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.count < capacity else { return }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: path)
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count + (path.first == 0 ? 0 : 1))
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        let bytes = Array(message.utf8)
        _ = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                bytes.withUnsafeBytes { sendto(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), raw, length) }
            }
        }
    }
}
