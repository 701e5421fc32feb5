import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Opening files and folders without following symbolic links anywhere on
/// the way, and working relative to folder descriptors (`openat`,
/// `mkdirat`, `linkat`), so that a folder or file swapped for a link between
/// a check and its use is refused rather than followed.
enum Descriptors {
    /// An open descriptor, closed when the value goes away.
    final class Handle {
        let fd: Int32

        init(_ fd: Int32) {
            self.fd = fd
        }

        deinit { close(fd) }

        /// The descriptor's file status.
        func status() throws(ImportError) -> stat {
            var info = stat()
            guard fstat(fd, &info) == 0 else { throw .io("cannot read a file's status: \(describeErrno())") }
            return info
        }
    }

    /// The folder at `path`, an absolute path with no symbolic link in it
    /// (what `realpath` gives), opened one component at a time from `/`.
    static func openFolder(absolute path: String) throws(ImportError) -> Handle {
        guard path.hasPrefix("/") else { throw .io("\(path) is not an absolute path") }
        var current = Handle(open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC))
        guard current.fd >= 0 else { throw .io("cannot open /: \(describeErrno())") }
        for component in path.split(separator: "/") {
            current = try openFolder(String(component), in: current, path: path)
        }
        return current
    }

    /// The folder `name` inside `parent`, never through a symbolic link.
    static func openFolder(_ name: String, in parent: Handle, path: String) throws(ImportError) -> Handle {
        let fd = openat(parent.fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            switch errno {
            case ELOOP, ENOTDIR: throw .outsideLibrary("\(path): '\(name)' is a symbolic link or not a folder")
            case ENOENT: throw .downloadMissing(path)
            default: throw .io("cannot open \(path): \(describeErrno())")
            }
        }
        return Handle(fd)
    }

    /// The regular file `name` in `parent`, opened for reading without
    /// following a link and without blocking (a FIFO swapped in cannot hold
    /// the thread), checked to be a regular file.
    static func openRegularFile(_ name: String, in parent: Handle, shown: String) throws(ImportError) -> (Handle, stat) {
        let fd = openat(parent.fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else {
            switch errno {
            case ENOENT: throw .io("\(shown) vanished before it could be imported")
            case ELOOP: throw .io("\(shown) became a symbolic link; not followed")
            default: throw .io("cannot read \(shown): \(describeErrno())")
            }
        }
        let handle = Handle(fd)
        let info = try handle.status()
        guard info.st_mode & S_IFMT == S_IFREG else { throw .io("\(shown) is no longer a regular file") }
        // Reads of a regular file never block; clear the flag for clarity.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        return (handle, info)
    }

    static func describeErrno() -> String { String(cString: strerror(errno)) }
}
