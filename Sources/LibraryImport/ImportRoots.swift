#if canImport(Glibc)
    import Glibc
#endif

/// The folders an import may read from: the download clients' save paths
/// (as this host sees them) and any folder named for imports by hand. A
/// payload is only a request; it cannot make the importer publish a file
/// from anywhere else on the machine.
public struct ImportRoots: Sendable, Equatable {
    /// The roots as configured.
    public let paths: [String]

    public init(_ paths: [String]) {
        self.paths = paths
    }

    /// `downloadPath` resolved (no symbolic links), when it lies strictly
    /// inside one of the roots.
    ///
    /// - Throws: ``ImportError/downloadMissing(_:)`` when it does not exist;
    ///   ``ImportError/outsideImportRoots(_:)`` when it lies outside every
    ///   root, or is a root itself (a client that saves a single-file torrent
    ///   without a subfolder reports its whole downloads folder as the content
    ///   path, which would import every download at once as one book).
    public func confine(_ downloadPath: String) throws(ImportError) -> String {
        guard let resolved = realpath(downloadPath, nil) else { throw .downloadMissing(downloadPath) }
        let real = String(cString: resolved)
        free(resolved)
        var rootsFound = false
        for root in paths {
            guard let resolvedRoot = realpath(root, nil) else { continue }
            let realRoot = String(cString: resolvedRoot)
            free(resolvedRoot)
            rootsFound = true
            if real == realRoot {
                throw .outsideImportRoots(
                    "\(downloadPath) is the import root \(root) itself, not one download in it (does the client save "
                        + "single-file torrents without a subfolder? give each download a folder of its own)")
            }
            let prefix = realRoot == "/" ? "/" : realRoot + "/"
            if real.hasPrefix(prefix) { return real }
        }
        guard rootsFound || paths.isEmpty else {
            throw .outsideImportRoots("none of import_roots exists (\(paths.joined(separator: ", "))); create them or fix the setting")
        }
        throw .outsideImportRoots(
            "\(downloadPath) is outside the folders imports may read (" + (paths.isEmpty ? "none configured" : paths.joined(separator: ", "))
                + "); add its folder to the organizer's import_roots if it is meant to be imported")
    }
}
