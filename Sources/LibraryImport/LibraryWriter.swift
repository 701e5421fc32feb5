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

    /// Makes `root/components…` and returns its path.
    ///
    /// - Throws: ``ImportError/outsideLibrary(_:)`` when a component is a
    ///   symbolic link or the result resolves outside the root.
    public func makeFolder(_ components: [String]) throws(ImportError) -> String {
        var path = root
        for component in components {
            guard !component.isEmpty, component != ".", component != "..", !component.contains("/") else {
                throw .outsideLibrary("'\(component)' is not a folder name")
            }
            path += "/" + component
            var info = stat()
            if lstat(path, &info) != 0 {
                if mkdir(path, 0o775) != 0, errno != EEXIST {
                    throw .io("cannot create \(path): \(Self.describeErrno())")
                }
                guard lstat(path, &info) == 0 else { throw .io("cannot create \(path): \(Self.describeErrno())") }
            }
            switch info.st_mode & S_IFMT {
            case S_IFDIR: continue
            case S_IFLNK: throw .outsideLibrary("\(path) is a symbolic link")
            default: throw .io("\(path) exists and is not a folder")
            }
        }
        guard let resolved = realpath(path, nil) else { throw .io("cannot resolve \(path): \(Self.describeErrno())") }
        defer { free(resolved) }
        let real = String(cString: resolved)
        guard real == root || real.hasPrefix(root + "/") else { throw .outsideLibrary("\(path) resolves to \(real)") }
        return path
    }

    /// Places `file` in `folder` as `name`, or as `name (2)` and so on when a
    /// different file holds the name.
    ///
    /// - Returns: the name used and how the file got there.
    public func place(_ file: AudiobookFiles.File, as name: String, in folder: String, mode: Mode) throws(ImportError)
        -> (name: String, placement: Placement)
    {
        for attempt in 1...100 {
            let candidate = attempt == 1 ? name : Self.numbered(name, attempt)
            let target = folder + "/" + candidate
            var info = stat()
            if lstat(target, &info) == 0 {
                if info.st_mode & S_IFMT == S_IFREG, Int64(info.st_size) == file.size, try Self.sameContent(file.path, target) {
                    return (candidate, .alreadyThere)
                }
                continue
            }
            if mode == .hardlink {
                if link(file.path, target) == 0 { return (candidate, .linked) }
                switch errno {
                case EEXIST: continue
                case EXDEV, EPERM, EMLINK: break  // another file system, or links not allowed: copy
                case ENOENT: throw .io("\(file.relativePath) vanished before it could be imported")
                default: throw .io("cannot link \(file.relativePath) into \(folder): \(Self.describeErrno())")
                }
            }
            switch try copy(file, to: folder, as: candidate) {
            case true: return (candidate, .copied)
            case false: continue  // the name was taken meanwhile
            }
        }
        throw .io("no free name for \(name) in \(folder)")
    }

    /// Copies through a temporary name; false when `name` was taken meanwhile.
    private func copy(_ file: AudiobookFiles.File, to folder: String, as name: String) throws(ImportError) -> Bool {
        let source = open(file.path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard source >= 0 else {
            if errno == ENOENT { throw .io("\(file.relativePath) vanished before it could be imported") }
            throw .io("cannot read \(file.relativePath): \(Self.describeErrno())")
        }
        defer { close(source) }
        var info = stat()
        guard fstat(source, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            throw .io("\(file.relativePath) is no longer a regular file")
        }
        let temporary = folder + "/" + Self.temporaryName()
        let target = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o664)
        guard target >= 0 else { throw .io("cannot write in \(folder): \(Self.describeErrno())") }
        defer { unlink(temporary) }
        var closed = false
        defer { if !closed { close(target) } }
        let bufferSize = 1 << 20
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: bufferSize, alignment: 16)
        defer { buffer.deallocate() }
        var total: Int64 = 0
        while true {
            let count = read(source, buffer, bufferSize)
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
                    throw .io("writing \(name) in \(folder) failed: \(Self.describeErrno())")
                }
                written += result
            }
            total += Int64(count)
        }
        var after = stat()
        fstat(source, &after)
        guard total == file.size, Int64(after.st_size) == file.size, after.st_nlink > 0 else {
            throw .io(
                "\(file.relativePath) changed while it was copied (\(total) bytes read, \(file.size) expected"
                    + (after.st_nlink == 0 ? ", deleted meanwhile)" : ")"))
        }
        guard fsync(target) == 0 else { throw .io("writing \(name) in \(folder) failed: \(Self.describeErrno())") }
        close(target)
        closed = true
        // link(2) never replaces an existing name: the file appears whole, once.
        if link(temporary, folder + "/" + name) == 0 { return true }
        if errno == EEXIST { return false }
        throw .io("cannot name \(name) in \(folder): \(Self.describeErrno())")
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
    public func removeAbandonedTemporaries(in folder: String, now: Date = Date()) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return [] }
        var removed: [String] = []
        for name in names where name.hasPrefix(".import-") && name.hasSuffix(".part") {
            let path = folder + "/" + name
            var info = stat()
            guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { continue }
            let parts = name.dropFirst(".import-".count).split(separator: "-")
            let writtenHere = parts.count >= 2 && parts[0] == Self.hostName
            let writerGone = writtenHere && Int32(parts[1]).map { kill($0, 0) != 0 && errno == ESRCH } == true
            let age = now.timeIntervalSince1970 - Double(info.st_mtim.tv_sec)
            if writerGone || age > 86_400 {
                if unlink(path) == 0 { removed.append(name) }
            }
        }
        return removed
    }

    /// Removes a file this import placed (to undo a failed import).
    public func remove(_ name: String, in folder: String) {
        unlink(folder + "/" + name)
    }

    static func numbered(_ name: String, _ number: Int) -> String {
        let ext = FileNames.pathExtension(name)
        let stem = ext.isEmpty ? name : String(name.dropLast(ext.count + 1))
        return FileNames.truncated(
            "\(stem) (\(number))" + (ext.isEmpty ? "" : "." + String(name.suffix(ext.count))), keepingExtension: true)
    }

    static func sameContent(_ first: String, _ second: String) throws(ImportError) -> Bool {
        guard let a = FileHandle(forReadingAtPath: first), let b = FileHandle(forReadingAtPath: second) else { return false }
        defer {
            try? a.close()
            try? b.close()
        }
        while true {
            let left = a.readData(ofLength: 1 << 20)
            let right = b.readData(ofLength: 1 << 20)
            if left != right { return false }
            if left.isEmpty { return true }
        }
    }

    static func describeErrno() -> String { String(cString: strerror(errno)) }
}
