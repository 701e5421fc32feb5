/// Why an import did not happen. ``isRetryable`` separates what a later
/// attempt may fix (the files are not there yet) from what it will not.
public enum ImportError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The download path does not exist (not mounted yet, moved, mapped wrongly).
    case downloadMissing(String)
    /// The download holds no audio files.
    case noAudioFiles(String)
    /// The library root is missing or not a folder.
    case libraryRootMissing(String)
    /// The target would leave the library root (a symlink in the library, say).
    case outsideLibrary(String)
    /// The download lies outside the folders imports may read.
    case outsideImportRoots(String)
    /// Reading or writing a file failed.
    case io(String)

    public var description: String {
        switch self {
        case .downloadMissing(let path):
            return "the download is not at \(path): check the download client plugin's path_mappings"
        case .noAudioFiles(let path): return "no audiobook files found in \(path)"
        case .libraryRootMissing(let path): return "library_root \(path) is not a folder: create it or fix library_root"
        case .outsideLibrary(let what): return "refused to write outside the library: \(what)"
        case .outsideImportRoots(let what): return "refused to import: \(what)"
        case .io(let message): return message
        }
    }

    /// Whether a later attempt may succeed without anyone changing anything.
    public var isRetryable: Bool {
        switch self {
        case .downloadMissing, .noAudioFiles, .io: return true
        case .libraryRootMissing, .outsideLibrary, .outsideImportRoots: return false
        }
    }
}
