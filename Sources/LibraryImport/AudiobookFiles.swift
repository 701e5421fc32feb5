import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The files of a finished download worth taking into the library: the
/// audio, and beside it covers, cue sheets and .nfo files.
///
/// The walk never follows a symbolic link (a torrent can carry one that
/// points anywhere), takes regular files only, skips hidden names (clients'
/// part files) and goes at most 16 folders deep.
public struct AudiobookFiles: Sendable, Equatable {
    public static let audioExtensions: Set<String> = ["m4b", "m4a", "mp3", "flac", "ogg", "opus", "aac"]
    public static let extraExtensions: Set<String> = ["jpg", "jpeg", "png", "webp", "cue", "nfo"]

    /// One file found, with its path relative to the download.
    public struct File: Sendable, Equatable {
        public var path: String
        public var relativePath: String
        public var size: Int64
        public var isAudio: Bool
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
        var info = stat()
        guard lstat(path, &info) == 0 else { throw .downloadMissing(path) }
        if info.st_mode & S_IFMT == S_IFREG {
            let name = (path as NSString).lastPathComponent
            consider(path: path, relative: name, size: Int64(info.st_size))
        } else if info.st_mode & S_IFMT == S_IFDIR {
            walk(path, relative: "", depth: 0)
        } else {
            skipped.append("\(path): not a regular file or folder")
        }
        files.sort { $0.relativePath.localizedStandardCompare($1.relativePath) == .orderedAscending }
    }

    private mutating func walk(_ directory: String, relative: String, depth: Int) {
        guard depth < 16 else {
            skipped.append("\(relative): deeper than 16 folders")
            return
        }
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
            skipped.append("\(relative.isEmpty ? "." : relative): cannot be read")
            return
        }
        for name in names where !name.hasPrefix(".") {
            let path = directory + "/" + name
            let relativePath = relative.isEmpty ? name : relative + "/" + name
            var info = stat()
            guard lstat(path, &info) == 0 else {
                skipped.append("\(relativePath): vanished while listed")
                continue
            }
            switch info.st_mode & S_IFMT {
            case S_IFDIR: walk(path, relative: relativePath, depth: depth + 1)
            case S_IFREG: consider(path: path, relative: relativePath, size: Int64(info.st_size))
            case S_IFLNK: skipped.append("\(relativePath): a symbolic link, not followed")
            default: skipped.append("\(relativePath): not a regular file")
            }
        }
    }

    private mutating func consider(path: String, relative: String, size: Int64) {
        let ext = FileNames.pathExtension(relative)
        if Self.audioExtensions.contains(ext) {
            files.append(File(path: path, relativePath: relative, size: size, isAudio: true))
        } else if Self.extraExtensions.contains(ext) {
            files.append(File(path: path, relativePath: relative, size: size, isAudio: false))
        }
    }
}
