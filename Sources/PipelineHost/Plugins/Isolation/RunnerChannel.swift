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

    deinit { close() }

    /// Sends one frame. A broken socket throws (the peer is gone).
    func send(_ payload: [UInt8]) throws(WireError) {
        var length = UInt32(truncatingIfNeeded: payload.count).littleEndian
        let failed = writeLock.withLock { _ -> Bool in
            let header = withUnsafeBytes(of: &length) { Self.writeAll(fd, $0) }
            return !header || !payload.withUnsafeBytes { Self.writeAll(fd, $0) }
        }
        if failed { throw WireError("the socket is closed") }
    }

    /// Receives one frame; nil when the peer closed the socket.
    func receive() throws(WireError) -> [UInt8]? {
        var header = [UInt8](repeating: 0, count: 4)
        guard try readAll(&header) else { return nil }
        let length = Int(header.reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
        guard length <= RunnerProtocol.maximumFrameBytes else {
            throw WireError("a frame of \(length) bytes, more than \(RunnerProtocol.maximumFrameBytes)")
        }
        var payload = [UInt8](repeating: 0, count: length)
        guard try readAll(&payload) else { throw WireError("the socket closed inside a frame") }
        return payload
    }

    /// Closes the socket (once); a blocked `receive` then returns.
    func close() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        shutdown(fd, Int32(SHUT_RDWR))
        Glibc.close(fd)
    }

    /// Fills `buffer`; false at a clean end of stream before the first byte.
    private func readAll(_ buffer: inout [UInt8]) throws(WireError) -> Bool {
        var done = 0
        while done < buffer.count {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + done, $0.count - done, 0) }
            if count == 0 {
                if done == 0 { return false }
                throw WireError("the socket closed inside a frame")
            }
            if count < 0 {
                if errno == EINTR { continue }
                if done == 0, errno == ECONNRESET || errno == EBADF { return false }
                throw WireError("reading the socket failed: \(String(cString: strerror(errno)))")
            }
            done += count
        }
        return true
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
