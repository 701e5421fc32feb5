import Foundation
import Glibc
import LibraryImport
import Testing

/// Imports that a payload or a racing download client means to turn against
/// the host (hardening #9, #10 and #13).
@Suite struct ImportHardeningTests {
    typealias Scene = LibraryImportTests.Scene

    /// Runs `body` on a thread of its own, failing after `timeout` instead of
    /// waiting for ever (what a blocked import would do).
    static func within<T: Sendable>(_ timeout: Duration, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await onOwnThread(body) }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            guard let first = try await group.next(), let value = first else {
                group.cancelAll()
                throw TestFailure("still running after \(timeout)")
            }
            group.cancelAll()
            return value
        }
    }

    /// Hardening #9: a payload cannot name a folder outside the import roots,
    /// nor the downloads folder itself.
    @Test func importsReadOnlyBelowTheirRoots() throws {
        let scene = try Scene()
        try scene.file("01.mp3")
        let downloads = (scene.download as NSString).deletingLastPathComponent
        let roots = ImportRoots([downloads])
        #expect(try roots.confine(scene.download) == scene.download)
        #expect(throws: ImportError.self) { try roots.confine(scene.outside) }
        #expect(throws: ImportError.self) { try roots.confine("/etc") }
        #expect(performing: { try roots.confine(downloads) }, throws: { "\($0)".contains("is the import root") })
        #expect(performing: { try roots.confine(downloads + "/../outside") }, throws: { "\($0)".contains("outside the folders imports may read") })
        // A link inside the downloads that points out is judged by where it leads.
        symlink(scene.outside, downloads + "/escape")
        #expect(throws: ImportError.self) { try roots.confine(downloads + "/escape") }
        #expect(throws: ImportError.downloadMissing(downloads + "/gone")) { try roots.confine(downloads + "/gone") }
    }

    /// Hardening #10: a FIFO swapped in for a file after the walk fails the
    /// import at once instead of holding its thread for ever.
    @Test func aFIFOSwappedInFailsAtOnce() async throws {
        let scene = try Scene()
        try scene.file("01.mp3")
        let found = try AudiobookFiles(at: scene.download)
        unlink(scene.download + "/01.mp3")
        #expect(mkfifo(scene.download + "/01.mp3", 0o644) == 0)
        let (download, library) = (scene.download, scene.library)
        let outcome = try await Self.within(.seconds(10)) { () -> String in
            do {
                _ = try AudiobookImport(values: ["author": "A", "title": "T"], mode: .copy).run(
                    found, from: download, into: try LibraryWriter(root: library))
                return "imported"
            } catch {
                return "\(error)"
            }
        }
        #expect(outcome.contains("no longer a regular file") || outcome.contains("replaced"), "\(outcome)")
        #expect(scene.libraryFiles.isEmpty)
    }

    /// Hardening #10: in hard-link mode, a symbolic link swapped in is never
    /// linked into the library; a folder swapped for a link is never entered.
    @Test func linksSwappedInAfterTheWalkAreNeverFollowedNorLinked() async throws {
        let scene = try Scene()
        try scene.file("01.mp3")
        try scene.file("CD1/02.mp3")
        // Beside the download, files of the same sizes that must never reach the library.
        try FileManager.default.createDirectory(atPath: scene.outside + "/CD1", withIntermediateDirectories: true)
        try Data(repeating: 7, count: 1000).write(to: URL(fileURLWithPath: scene.outside + "/CD1/02.mp3"))
        let found = try AudiobookFiles(at: scene.download)
        #expect(found.files.map(\.relativePath) == ["01.mp3", "CD1/02.mp3"])
        unlink(scene.download + "/01.mp3")
        symlink(scene.outside + "/secret.mp3", scene.download + "/01.mp3")
        let (download, library) = (scene.download, scene.library)
        await #expect(throws: ImportError.self) {
            try await onOwnThread {
                try AudiobookImport(values: ["author": "A", "title": "T"], mode: .hardlink).run(
                    found, from: download, into: try LibraryWriter(root: library))
            }
        }
        #expect(scene.libraryFiles.isEmpty, "\(scene.libraryFiles)")

        // The folder: CD1 becomes a link to the look-alike outside.
        let again = try AudiobookFiles(at: scene.download + "/CD1")
        try FileManager.default.removeItem(atPath: scene.download + "/CD1")
        symlink(scene.outside + "/CD1", scene.download + "/CD1")
        await #expect(throws: ImportError.self) {
            try await onOwnThread {
                try AudiobookImport(values: ["author": "A", "title": "T"], mode: .copy).run(
                    again, from: download + "/CD1", into: try LibraryWriter(root: library))
            }
        }
        #expect(scene.libraryFiles.isEmpty, "\(scene.libraryFiles)")
    }

    /// Hardening #10: the copy loop stops when the job is cancelled, and
    /// leaves nothing behind.
    @Test func aCancelledCopyStopsAndLeavesNothing() async throws {
        let scene = try Scene()
        try scene.file("01.mp3", bytes: 8 << 20)
        let found = try AudiobookFiles(at: scene.download)
        let (download, library) = (scene.download, scene.library)
        let asked = Counter()
        await #expect(throws: ImportError.self) {
            try await onOwnThread {
                try AudiobookImport(values: ["author": "A", "title": "T"], mode: .copy).run(
                    found, from: download, into: try LibraryWriter(root: library), isCancelled: { asked.next() > 2 })
            }
        }
        #expect(asked.value > 2, "asked between chunks")
        #expect(scene.libraryFiles.isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: scene.library + "/A/T").isEmpty, "no temporary file left")
    }

    final class Counter: @unchecked Sendable {
        private var count = 0
        private let lock = NSLock()
        var value: Int { lock.withLock { count } }
        func next() -> Int { lock.withLock { count += 1; return count } }
    }

    /// Hardening #13: whatever normalisation and the 255-byte cut do to a
    /// name, it stays visible and non-empty.
    @Test func namesNeverNormaliseToNothingOrToAHiddenFile() {
        let combining = "\u{0301}"
        let oneHugeCharacter = "e" + String(repeating: "\u{0301}", count: 200)  // one grapheme, 401 bytes
        for (text, keepingExtension) in [
            (combining + ".mp3", true), (combining, false), (" \u{0301}.mp3", true), (oneHugeCharacter + ".mp3", true),
            (oneHugeCharacter, false), ("..." + oneHugeCharacter, false), (".hidden.mp3", true), ("\u{2028}.m4b", true),
            (String(repeating: "\u{0301}", count: 300) + ".mp3", true),
        ] {
            let name = FileNames.component(text, keepingExtension: keepingExtension)
            #expect(!name.isEmpty && !name.hasPrefix(".") && name.utf8.count <= FileNames.maxBytes, "\(text.debugDescription) → \(name.debugDescription)")
            if keepingExtension, text.hasSuffix(".mp3") { #expect(name.hasSuffix(".mp3") && name != ".mp3", "\(name.debugDescription)") }
        }
        #expect(FileNames.truncated(oneHugeCharacter + ".mp3", keepingExtension: true).utf8.count <= 255)
        #expect(FileNames.component("", fallback: "") == "", "the template's empty fields still vanish")
    }
}
