import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One end of the stream socket between the host and a runner, carrying
/// length-prefixed frames: a 32-bit little-endian length, then that many
/// bytes. Writes from several threads are serialised; one thread reads.
final class RunnerChannel: Sendable {
    let fd: Int32
    private let writeLock = Mutex<Void>(())
    private let closed = Atomic<Bool>(false)

    init(fd: Int32) {
        self.fd = fd
    }

    deinit {
        close()
        Glibc.close(fd)
    }

    /// Sends one frame. A broken socket throws (the peer is gone).
    func send(_ payload: [UInt8]) throws(WireError) {
        var length = UInt32(truncatingIfNeeded: payload.count).littleEndian
        let failed = writeLock.withLock { _ -> Bool in
            let header = withUnsafeBytes(of: &length) { Self.writeAll(fd, $0) }
            return !header || !payload.withUnsafeBytes { Self.writeAll(fd, $0) }
        }
        if failed { throw WireError("the socket is closed") }
    }

    /// What was read past the last frame handed out (one reader only).
    private let pending = Mutex<(bytes: [UInt8], start: Int)>(([], 0))
    /// Where each read lands before it joins ``pending``.
    private let scratch = Mutex<[UInt8]>([UInt8](repeating: 0, count: 1 << 16))

    /// Receives one frame; nil when the peer closed the socket. Reads as
    /// much as the socket holds at once (many frames, under load) and hands
    /// them out one by one, so that a busy socket costs few system calls.
    func receive() throws(WireError) -> [UInt8]? {
        var (buffer, start) = pending.withLock { $0 }
        defer { pending.withLock { $0 = (buffer, start) } }
        func available() -> Int { buffer.count - start }
        func fill(atLeast needed: Int) throws(WireError) -> Bool {
            while available() < needed {
                if start > 0, start == buffer.count {
                    buffer.removeAll(keepingCapacity: true)
                    start = 0
                } else if start > 1 << 16 {
                    buffer.removeFirst(start)
                    start = 0
                }
                let count = scratch.withLock { scratch in
                    scratch.withUnsafeMutableBytes { raw in
                        let count = recv(fd, raw.baseAddress!, raw.count, 0)
                        if count > 0 { buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[0..<count])) }
                        return count
                    }
                }
                if count <= 0 {
                    if count == 0 || errno == ECONNRESET || errno == EBADF {
                        if available() == 0 { return false }
                        throw WireError("the socket closed inside a frame")
                    }
                    if errno == EINTR { continue }
                    throw WireError("reading the socket failed: \(String(cString: strerror(errno)))")
                }
            }
            return true
        }
        guard try fill(atLeast: 4) else { return nil }
        let length = Int(buffer[start..<(start + 4)].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
        guard length <= RunnerProtocol.maximumFrameBytes else {
            throw WireError("a frame of \(length) bytes, more than \(RunnerProtocol.maximumFrameBytes)")
        }
        guard try fill(atLeast: 4 + length) else { throw WireError("the socket closed inside a frame") }
        let frame = Array(buffer[(start + 4)..<(start + 4 + length)])
        start += 4 + length
        return frame
    }

    /// Shuts the socket down (once): a blocked `receive` returns, sends fail.
    /// The descriptor itself is closed only when the channel goes away, so
    /// that its number cannot be reused under a thread still reading it.
    func close() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        shutdown(fd, Int32(SHUT_RDWR))
    }

    private static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
        var done = 0
        while done < bytes.count {
            let count = Glibc.send(fd, bytes.baseAddress! + done, bytes.count - done, Int32(MSG_NOSIGNAL))
            if count < 0 {
                if errno == EINTR { continue }
                return false
            }
            done += count
        }
        return true
    }
}
