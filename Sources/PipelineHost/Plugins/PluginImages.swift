import Foundation
import Glibc
import Synchronization

/// Which build of each plugin file this process has mapped, so that a new
/// build at the same path is loaded as a new copy.
///
/// The dynamic loader hands back the image it already has for a path it has
/// opened before, whatever is on disk now, and a plugin is never unmapped
/// (RTLD_NODELETE). So when the file at a path is not the build that was
/// loaded from it (another device, inode, size or modification time), the
/// new build is copied to a path of its own and that copy is opened: a new
/// image beside the old one, whose jobs may still be running.
enum PluginImages {
    /// A file's identity: what changes when a build replaces it.
    struct FileIdentity: Hashable, Sendable {
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var modifiedSeconds: Int64
        var modifiedNanoseconds: Int64

        init?(path: String) {
            var info = stat()
            guard stat(path, &info) == 0 else { return nil }
            device = UInt64(info.st_dev)
            inode = UInt64(info.st_ino)
            size = Int64(info.st_size)
            modifiedSeconds = Int64(info.st_mtim.tv_sec)
            modifiedNanoseconds = Int64(info.st_mtim.tv_nsec)
        }
    }

    /// For each path asked for: the build loaded first from it, and where each build was opened from.
    private static let opened = Mutex<[String: (first: FileIdentity, copies: [FileIdentity: String])]>([:])
    /// The private folder copies go to, made on first need.
    private static let folder = Mutex<String?>(nil)

    /// The path to open for the plugin file at `path`: the path itself for
    /// the first build seen there, a copy for each later build.
    ///
    /// Copies go to a folder this process makes itself with `mkdtemp` (mode
    /// 0700, its owner checked), each written anew under a name that did not
    /// exist (`O_EXCL`); nothing another user could have placed is ever opened.
    static func pathToOpen(for path: String) throws(PluginLoadError) -> String {
        guard let identity = FileIdentity(path: path) else { return path }
        let known = opened.withLock { images -> String? in
            guard let entry = images[path] else {
                images[path] = (identity, [identity: path])
                return path
            }
            return entry.copies[identity]
        }
        if let known { return known }
        let name = (path as NSString).lastPathComponent
        let copy: String
        do {
            let directory = try privateFolder()
            copy = directory + "/\(identity.inode)-\(identity.modifiedSeconds)-\(UUID().uuidString.prefix(8))-\(name)"
            try copyFile(path, to: copy)
        } catch {
            throw PluginLoadError(
                .notLoadable, path: path, problem: "a new build of it could not be copied to a private folder: \(error.message)",
                fix: "make $TMPDIR (or /tmp) writable for the host's user, or restart the host to load the new build")
        }
        opened.withLock { $0[path]?.copies[identity] = copy }
        return copy
    }

    /// The identity of the file at `path` now, for telling builds apart.
    static func identity(of path: String) -> FileIdentity? { FileIdentity(path: path) }

    /// Removes the copies and their folder: at the host's stop, when no new
    /// code will be loaded (the mapped images stay valid once unlinked).
    static func removeCopies() {
        guard let directory = folder.withLock({ folder -> String? in defer { folder = nil }; return folder }) else { return }
        if let names = try? FileManager.default.contentsOfDirectory(atPath: directory) {
            for name in names { unlink(directory + "/" + name) }
        }
        rmdir(directory)
        opened.withLock { images in
            images = images.mapValues { entry in (entry.first, entry.copies.filter { !$0.value.hasPrefix(directory + "/") }) }
        }
    }

    struct CopyError: Error {
        var message: String
    }

    /// This process's own folder for copies: made once with mkdtemp, and
    /// checked to be a directory owned by this user with mode 0700.
    static func privateFolder() throws(CopyError) -> String {
        try folder.withLock { folder throws(CopyError) -> String in
            if let folder { return folder }
            let base = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
            var template = Array("\(base)/pipeline-host-plugins-XXXXXX".utf8CString)
            guard let made = mkdtemp(&template) else { throw CopyError(message: "mkdtemp in \(base): \(String(cString: strerror(errno)))") }
            let directory = String(cString: made)
            var info = stat()
            guard lstat(directory, &info) == 0, info.st_mode & S_IFMT == S_IFDIR, info.st_uid == geteuid(),
                info.st_mode & 0o777 == 0o700
            else {
                throw CopyError(message: "\(directory) is not a private folder of this user")
            }
            folder = directory
            return directory
        }
    }

    /// Copies `source` to `target`, which must not exist yet, readable and
    /// executable by this user only.
    static func copyFile(_ source: String, to target: String) throws(CopyError) {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw CopyError(message: "cannot read \(source): \(String(cString: strerror(errno)))") }
        defer { close(input) }
        let output = open(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o500)
        guard output >= 0 else { throw CopyError(message: "cannot create \(target): \(String(cString: strerror(errno)))") }
        var complete = false
        defer {
            close(output)
            if !complete { unlink(target) }
        }
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if count == 0 { break }
            guard count > 0 else {
                if errno == EINTR { continue }
                throw CopyError(message: "reading \(source): \(String(cString: strerror(errno)))")
            }
            var written = 0
            while written < count {
                let result = buffer.withUnsafeBytes { write(output, $0.baseAddress! + written, count - written) }
                guard result > 0 else {
                    if result < 0, errno == EINTR { continue }
                    throw CopyError(message: "writing \(target): \(String(cString: strerror(errno)))")
                }
                written += result
            }
        }
        complete = true
    }
}
