import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Writes into the library, and only there.
///
/// Folders are made one component at a time, and a component that exists as
/// a symbolic link is refused, so nothing placed in the library can redirect
/// a write elsewhere. Files appear whole or not at all: a copy goes to a
/// hidden temporary name in the target folder, is checked against the size
/// the source had when it was found, synced, and then linked to its name
/// (which never replaces an existing file); the temporary name is removed
/// whatever happens, and one left by a process killed mid-copy is removed by
/// the next import into that folder. The source is only ever opened for reading.
public struct LibraryWriter: Sendable {
    /// How files get into the library.
    public enum Mode: String, Sendable, Codable {
        /// A full copy.
        case copy
        /// A hard link (no extra space; the seeding copy stays untouched);
        /// a copy when the library is on another file system.
        case hardlink
    }

    /// How one file got there.
    public enum Placement: String, Sendable, Equatable {
        case copied, linked
        /// An identical file was there already (an import run again).
        case alreadyThere = "already_there"
    }

    /// The library root, resolved (no symlinks in it).
    public let root: String

    public init(root: String) throws(ImportError) {
        guard let resolved = realpath(root, nil) else { throw .libraryRootMissing(root) }
        defer { free(resolved) }
        let path = String(cString: resolved)
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else { throw .libraryRootMissing(root) }
        self.root = path
    }

    /// A folder of the library, open: every later step works relative to
    /// its descriptor, so that the folder cannot be swapped for a link
    /// between the check and the write.
    public final class Folder {
        /// Its path, for messages and results.
        public let path: String
        let handle: Descriptors.Handle

        init(path: String, handle: Descriptors.Handle) {
            self.path = path
            self.handle = handle
        }
    }

    /// Makes `root/components…` one component at a time (`mkdirat`, then
    /// opened without following links) and returns it open.
    ///
    /// - Throws: ``ImportError/outsideLibrary(_:)`` when a component is a
    ///   symbolic link or not a folder name.
    public func makeFolder(_ components: [String]) throws(ImportError) -> Folder {
        var path = root
        var current = try Descriptors.openFolder(absolute: root)
        for component in components {
            guard !component.isEmpty, component != ".", component != "..", !component.contains("/") else {
                throw .outsideLibrary("'\(component)' is not a folder name")
            }
            path += "/" + component
            if mkdirat(current.fd, component, 0o775) != 0, errno != EEXIST {
                throw .io("cannot create \(path): \(Self.describeErrno())")
            }
            let fd = openat(current.fd, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else {
                if errno == ELOOP { throw .outsideLibrary("\(path) is a symbolic link") }
                if errno == ENOTDIR {
                    var info = stat()
                    if fstatat(current.fd, component, &info, AT_SYMLINK_NOFOLLOW) == 0, info.st_mode & S_IFMT == S_IFLNK {
                        throw .outsideLibrary("\(path) is a symbolic link")
                    }
                    throw .io("\(path) exists and is not a folder")
                }
                throw .io("cannot open \(path): \(Self.describeErrno())")
            }
            current = Descriptors.Handle(fd)
        }
        return Folder(path: path, handle: current)
    }

    /// Places `file` in `folder` as `name`, or as `name (2)` and so on when a
    /// different file holds the name.
    ///
    /// The source is opened once (``AudiobookFiles/File/openVerified()``:
    /// no link followed, no FIFO waited on, the same inode and size the walk
    /// saw) and everything after works on that descriptor: a hard link is
    /// made to the opened file itself, never to whatever the name holds now.
    ///
    /// - Parameter isCancelled: asked between chunks of a copy; true stops it.
    /// - Returns: the name used and how the file got there.
    public func place(
        _ file: AudiobookFiles.File, as name: String, in folder: Folder, mode: Mode, isCancelled: () -> Bool = { false }
    ) throws(ImportError) -> (name: String, placement: Placement) {
        let source = try file.openVerified()
        for attempt in 1...100 {
            let candidate = attempt == 1 ? name : Self.numbered(name, attempt)
            var info = stat()
            if fstatat(folder.handle.fd, candidate, &info, AT_SYMLINK_NOFOLLOW) == 0 {
                if info.st_mode & S_IFMT == S_IFREG, Int64(info.st_size) == file.size,
                    try Self.sameContent(source, candidate, in: folder, isCancelled: isCancelled)
                {
                    return (candidate, .alreadyThere)
                }
                continue
            }
            if mode == .hardlink {
                // Link the opened file through /proc (AT_SYMLINK_FOLLOW on its
                // /proc/self/fd entry links the file itself, not a name).
                if linkat(AT_FDCWD, "/proc/self/fd/\(source.fd)", folder.handle.fd, candidate, AT_SYMLINK_FOLLOW) == 0 {
                    return (candidate, .linked)
                }
                switch errno {
                case EEXIST: continue
                case EXDEV, EPERM, EMLINK, ENOENT: break  // another file system, links not allowed, no /proc: copy
                default: throw .io("cannot link \(file.relativePath) into \(folder.path): \(Self.describeErrno())")
                }
            }
            switch try copy(source, file, to: folder, as: candidate, isCancelled: isCancelled) {
            case true: return (candidate, .copied)
            case false: continue  // the name was taken meanwhile
            }
        }
        throw .io("no free name for \(name) in \(folder.path)")
    }

    /// Copies through a temporary name; false when `name` was taken meanwhile.
    private func copy(
        _ source: Descriptors.Handle, _ file: AudiobookFiles.File, to folder: Folder, as name: String, isCancelled: () -> Bool
    ) throws(ImportError) -> Bool {
        guard lseek(source.fd, 0, SEEK_SET) == 0 else { throw .io("cannot read \(file.relativePath): \(Self.describeErrno())") }
        let temporary = Self.temporaryName()
        let target = openat(folder.handle.fd, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o664)
        guard target >= 0 else { throw .io("cannot write in \(folder.path): \(Self.describeErrno())") }
        defer { unlinkat(folder.handle.fd, temporary, 0) }
        var closed = false
        defer { if !closed { close(target) } }
        let bufferSize = 1 << 20
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: bufferSize, alignment: 16)
        defer { buffer.deallocate() }
        var total: Int64 = 0
        while true {
            if isCancelled() { throw .io("the import of \(file.relativePath) was cancelled") }
            let count = read(source.fd, buffer, bufferSize)
            if count == 0 { break }
            guard count > 0 else {
                if errno == EINTR { continue }
                throw .io("reading \(file.relativePath) failed: \(Self.describeErrno())")
            }
            var written = 0
            while written < count {
                let result = write(target, buffer + written, count - written)
                guard result > 0 else {
                    if result < 0, errno == EINTR { continue }
                    throw .io("writing \(name) in \(folder.path) failed: \(Self.describeErrno())")
                }
                written += result
            }
            total += Int64(count)
            guard total <= file.size else { break }
        }
        let after = try source.status()
        guard total == file.size, Int64(after.st_size) == file.size, after.st_nlink > 0 else {
            throw .io(
                "\(file.relativePath) changed while it was copied (\(total) bytes read, \(file.size) expected"
                    + (after.st_nlink == 0 ? ", deleted meanwhile)" : ")"))
        }
        guard fsync(target) == 0 else { throw .io("writing \(name) in \(folder.path) failed: \(Self.describeErrno())") }
        close(target)
        closed = true
        // link(2) never replaces an existing name: the file appears whole, once.
        if linkat(folder.handle.fd, temporary, folder.handle.fd, name, 0) == 0 { return true }
        if errno == EEXIST { return false }
        throw .io("cannot name \(name) in \(folder.path): \(Self.describeErrno())")
    }

    /// The hidden name a copy is written under: `.import-<host>-<pid>-<uuid>.part`,
    /// so that the process that wrote it can be told apart later.
    static func temporaryName() -> String {
        ".import-\(hostName)-\(getpid())-\(UUID().uuidString.lowercased()).part"
    }

    /// This machine's name as temporary file names carry it.
    public static let hostName: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, buffer.count - 1)
        let name = String(cString: buffer).filter { $0.isLetter || $0.isNumber || $0 == "." || $0 == "_" }
        return name.isEmpty ? "host" : name
    }()

    /// Removes the temporary files in `folder` that a copy killed midway left
    /// (a host killed with SIGKILL runs no cleanup): those written on this
    /// machine by a process that no longer runs, and any older than a day
    /// (written elsewhere, on a shared library). Returns their names.
    @discardableResult
    public func removeAbandonedTemporaries(in folder: Folder, now: Date = Date()) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else { return [] }
        var removed: [String] = []
        for name in names where name.hasPrefix(".import-") && name.hasSuffix(".part") {
            var info = stat()
            guard fstatat(folder.handle.fd, name, &info, AT_SYMLINK_NOFOLLOW) == 0, info.st_mode & S_IFMT == S_IFREG else { continue }
            let parts = name.dropFirst(".import-".count).split(separator: "-")
            let writtenHere = parts.count >= 2 && parts[0] == Self.hostName
            let writerGone = writtenHere && Int32(parts[1]).map { kill($0, 0) != 0 && errno == ESRCH } == true
            let age = now.timeIntervalSince1970 - Double(info.st_mtim.tv_sec)
            if writerGone || age > 86_400 {
                if unlinkat(folder.handle.fd, name, 0) == 0 { removed.append(name) }
            }
        }
        return removed
    }

    /// Removes a file this import placed (to undo a failed import).
    public func remove(_ name: String, in folder: Folder) {
        unlinkat(folder.handle.fd, name, 0)
    }

    static func numbered(_ name: String, _ number: Int) -> String {
        let ext = FileNames.pathExtension(name)
        let stem = ext.isEmpty ? name : String(name.dropLast(ext.count + 1))
        return FileNames.truncated(
            "\(stem) (\(number))" + (ext.isEmpty ? "" : "." + String(name.suffix(ext.count))), keepingExtension: true)
    }

    /// Whether the file `name` in `folder` holds the same bytes as `source`.
    static func sameContent(
        _ source: Descriptors.Handle, _ name: String, in folder: Folder, isCancelled: () -> Bool
    ) throws(ImportError) -> Bool {
        guard let (existing, _) = try? Descriptors.openRegularFile(name, in: folder.handle, shown: name) else { return false }
        guard lseek(source.fd, 0, SEEK_SET) == 0 else { return false }
        let size = 1 << 20
        var left = [UInt8](repeating: 0, count: size)
        var right = [UInt8](repeating: 0, count: size)
        while true {
            if isCancelled() { throw .io("the import was cancelled") }
            let a = left.withUnsafeMutableBytes { readFully(source.fd, $0) }
            let b = right.withUnsafeMutableBytes { readFully(existing.fd, $0) }
            guard a >= 0, b >= 0, a == b else { return false }
            if a == 0 { return true }
            if left[0..<a] != right[0..<b] { return false }
        }
    }

    /// Reads until `buffer` is full or the file ends; the count, or -1.
    private static func readFully(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer) -> Int {
        var total = 0
        while total < buffer.count {
            let count = read(fd, buffer.baseAddress! + total, buffer.count - total)
            if count == 0 { break }
            if count < 0 {
                if errno == EINTR { continue }
                return -1
            }
            total += count
        }
        return total
    }

    static func describeErrno() -> String { String(cString: strerror(errno)) }
}
