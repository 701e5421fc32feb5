import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The files of a finished download worth taking into the library: the
/// audio, and beside it covers, cue sheets and .nfo files.
///
/// The walk never follows a symbolic link (a torrent can carry one that
/// points anywhere), takes regular files only, skips hidden names (clients'
/// part files), goes at most 16 folders deep and lists at most 10 000
/// entries. It works through folder descriptors opened without following
/// links, and records each file's device and inode, so that the import can
/// check that the file it opens later is the one found here.
public struct AudiobookFiles: Sendable, Equatable {
    public static let audioExtensions: Set<String> = ["m4b", "m4a", "mp3", "flac", "ogg", "opus", "aac"]
    public static let extraExtensions: Set<String> = ["jpg", "jpeg", "png", "webp", "cue", "nfo"]
    /// The most entries (files and folders) one walk looks at.
    public static let maximumEntries = 10_000

    /// One file found, with its path relative to the download.
    public struct File: Sendable, Equatable {
        /// Its path, for messages.
        public var path: String
        public var relativePath: String
        public var size: Int64
        public var isAudio: Bool
        /// The folder the walk started from (a symlink-free absolute path)
        /// and the components below it, for opening the file again safely.
        var folder: String
        var components: [String]
        var device: UInt64
        var inode: UInt64
    }

    public var files: [File]
    /// What was passed over, and why (symlinks, special files), for the job log.
    public var skipped: [String]

    public var audio: [File] { files.filter(\.isAudio) }

    /// Walks `path` (a folder, or a single file).
    ///
    /// - Throws: ``ImportError/downloadMissing(_:)`` when `path` does not exist.
    public init(at path: String) throws(ImportError) {
        files = []
        skipped = []
        guard let resolved = realpath(path, nil) else { throw .downloadMissing(path) }
        let real = String(cString: resolved)
        free(resolved)
        var info = stat()
        guard lstat(real, &info) == 0 else { throw .downloadMissing(path) }
        if info.st_mode & S_IFMT == S_IFREG {
            let name = (real as NSString).lastPathComponent
            let parent = (real as NSString).deletingLastPathComponent
            consider(File(
                path: path, relativePath: name, size: Int64(info.st_size), isAudio: false, folder: parent, components: [name],
                device: UInt64(info.st_dev), inode: UInt64(info.st_ino)))
        } else if info.st_mode & S_IFMT == S_IFDIR {
            let root = try Descriptors.openFolder(absolute: real)
            var budget = Self.maximumEntries
            walk(root, folder: real, components: [], shownRoot: path, depth: 0, budget: &budget)
        } else {
            skipped.append("\(path): not a regular file or folder")
        }
        files.sort { $0.relativePath.localizedStandardCompare($1.relativePath) == .orderedAscending }
    }

    private mutating func walk(
        _ directory: Descriptors.Handle, folder: String, components: [String], shownRoot: String, depth: Int, budget: inout Int
    ) {
        let relative = components.joined(separator: "/")
        guard depth < 16 else {
            skipped.append("\(relative): deeper than 16 folders")
            return
        }
        // fdopendir takes the descriptor: give it a duplicate of its own.
        let listing = dup(directory.fd)
        guard listing >= 0, let stream = fdopendir(listing) else {
            if listing >= 0 { close(listing) }
            skipped.append("\(relative.isEmpty ? "." : relative): cannot be read")
            return
        }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name == "." || name == ".." || name.hasPrefix(".") { continue }
            guard budget > 0 else {
                skipped.append("\(relative.isEmpty ? "." : relative): more than \(Self.maximumEntries) entries; the rest passed over")
                break
            }
            budget -= 1
            names.append(name)
        }
        for name in names {
            let path = components + [name]
            let relativePath = path.joined(separator: "/")
            var info = stat()
            guard fstatat(directory.fd, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else {
                skipped.append("\(relativePath): vanished while listed")
                continue
            }
            switch info.st_mode & S_IFMT {
            case S_IFDIR:
                guard let child = try? Descriptors.openFolder(name, in: directory, path: relativePath) else {
                    skipped.append("\(relativePath): changed while listed; not followed")
                    continue
                }
                walk(child, folder: folder, components: path, shownRoot: shownRoot, depth: depth + 1, budget: &budget)
            case S_IFREG:
                consider(File(
                    path: shownRoot + "/" + relativePath, relativePath: relativePath, size: Int64(info.st_size), isAudio: false,
                    folder: folder, components: path, device: UInt64(info.st_dev), inode: UInt64(info.st_ino)))
            case S_IFLNK: skipped.append("\(relativePath): a symbolic link, not followed")
            default: skipped.append("\(relativePath): not a regular file")
            }
        }
    }

    private mutating func consider(_ file: File) {
        var file = file
        let ext = FileNames.pathExtension(file.relativePath)
        if Self.audioExtensions.contains(ext) {
            file.isAudio = true
            files.append(file)
        } else if Self.extraExtensions.contains(ext) {
            files.append(file)
        }
    }
}

extension AudiobookFiles.File {
    /// Opens the file found by the walk again, for reading: through its
    /// folders without following links, without blocking, and only if it is
    /// still the same regular file (device, inode) of the same size.
    func openVerified() throws(ImportError) -> Descriptors.Handle {
        var folder = try Descriptors.openFolder(absolute: self.folder)
        for component in components.dropLast() {
            folder = try Descriptors.openFolder(component, in: folder, path: relativePath)
        }
        let (handle, info) = try Descriptors.openRegularFile(components.last ?? "", in: folder, shown: relativePath)
        guard UInt64(info.st_dev) == device, UInt64(info.st_ino) == inode else {
            throw .io("\(relativePath) was replaced by another file after it was found")
        }
        guard Int64(info.st_size) == size else {
            throw .io("\(relativePath) changed while it was imported (\(info.st_size) bytes, \(size) expected)")
        }
        return handle
    }
}
