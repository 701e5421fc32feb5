/// One book's import: which files go where, then placing them all or none.
public struct AudiobookImport: Sendable {
    /// The book's fields for the path template.
    public var values: [String: String]
    public var template: PathTemplate
    public var mode: LibraryWriter.Mode

    public init(values: [String: String], template: PathTemplate = .default, mode: LibraryWriter.Mode) {
        self.values = values
        self.template = template
        self.mode = mode
    }

    /// What an import did.
    public struct Outcome: Sendable, Equatable {
        /// The book's folder: an absolute path under the library root.
        public var folder: String
        /// Each file: its path in the download, its name in the folder, how it got there.
        public var files: [(source: String, name: String, placement: LibraryWriter.Placement)]

        public static func == (lhs: Outcome, rhs: Outcome) -> Bool {
            lhs.folder == rhs.folder && lhs.files.map { "\($0.source)|\($0.name)|\($0.placement)" }
                == rhs.files.map { "\($0.source)|\($0.name)|\($0.placement)" }
        }
    }

    /// The folder components for this book (never empty).
    public var folderComponents: [String] {
        let components = template.components(values)
        return components.isEmpty ? ["Unknown Book"] : components
    }

    /// A safe, distinct name in the book's folder for each file: its own
    /// name, prefixed by its sub-folders when two files share a name
    /// (`CD1/01.mp3`, `CD2/01.mp3`).
    public static func targetNames(_ files: [AudiobookFiles.File]) -> [String] {
        let baseNames = files.map { FileNames.component(($0.relativePath as String).split(separator: "/").last.map(String.init) ?? "", keepingExtension: true) }
        var counts: [String: Int] = [:]
        for name in baseNames { counts[name.lowercased(), default: 0] += 1 }
        var used: Set<String> = []
        return zip(files, baseNames).map { file, base in
            var name = base
            if counts[base.lowercased(), default: 0] > 1 {
                let folders = file.relativePath.split(separator: "/").dropLast().map { FileNames.component(String($0)) }
                if !folders.isEmpty {
                    name = FileNames.component((folders + [base]).joined(separator: " - "), keepingExtension: true)
                }
            }
            var candidate = name
            var number = 2
            while used.contains(candidate.lowercased()) {
                candidate = LibraryWriter.numbered(name, number)
                number += 1
            }
            used.insert(candidate.lowercased())
            return candidate
        }
    }

    /// Imports `found` into the library under `writer`: every file, or, when
    /// one fails, none (the files this run placed are removed again).
    ///
    /// - Parameter isCancelled: asked between files and between chunks of a
    ///   copy; true stops the import (and removes what it placed).
    /// - Throws: ``ImportError/noAudioFiles(_:)`` when `found` has no audio.
    public func run(
        _ found: AudiobookFiles, from downloadPath: String, into writer: LibraryWriter, isCancelled: () -> Bool = { false }
    ) throws(ImportError) -> Outcome {
        guard !found.audio.isEmpty else { throw .noAudioFiles(downloadPath) }
        let folder = try writer.makeFolder(folderComponents)
        // What a host killed mid-copy left here goes before this import writes.
        writer.removeAbandonedTemporaries(in: folder)
        let names = Self.targetNames(found.files)
        var placed: [(source: String, name: String, placement: LibraryWriter.Placement)] = []
        do throws(ImportError) {
            for (file, name) in zip(found.files, names) {
                if isCancelled() { throw .io("the import was cancelled") }
                let result = try writer.place(file, as: name, in: folder, mode: mode, isCancelled: isCancelled)
                placed.append((file.relativePath, result.name, result.placement))
            }
        } catch {
            for file in placed where file.placement != .alreadyThere { writer.remove(file.name, in: folder) }
            throw error
        }
        return Outcome(folder: folder.path, files: placed)
    }
}
