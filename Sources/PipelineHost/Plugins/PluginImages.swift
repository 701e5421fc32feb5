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
        var modified: Int64

        init?(path: String) {
            var info = stat()
            guard stat(path, &info) == 0 else { return nil }
            device = UInt64(info.st_dev)
            inode = UInt64(info.st_ino)
            size = Int64(info.st_size)
            modified = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
        }
    }

    /// For each path asked for: the build loaded first from it, and where each build was opened from.
    private static let opened = Mutex<[String: (first: FileIdentity, copies: [FileIdentity: String])]>([:])

    /// The path to open for the plugin file at `path`: the path itself for
    /// the first build seen there, a copy for each later build.
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
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pipeline-host-plugin-builds-\(getpid())")
        let name = (path as NSString).lastPathComponent
        let copy = directory.appendingPathComponent("\(identity.inode)-\(identity.modified)-\(name)").path
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            if !FileManager.default.fileExists(atPath: copy) { try FileManager.default.copyItem(atPath: path, toPath: copy) }
        } catch {
            throw PluginLoadError(
                .notLoadable, path: path, problem: "a new build of it could not be copied to \(copy): \(error)",
                fix: "make \(directory.path) writable, or restart the host to load the new build")
        }
        opened.withLock { $0[path]?.copies[identity] = copy }
        return copy
    }

    /// The identity of the file at `path` now, for telling builds apart.
    static func identity(of path: String) -> FileIdentity? { FileIdentity(path: path) }
}
