import Foundation
import Glibc
import LibraryImport
import Testing

/// Hostile downloads against the importer, on real files: nothing is ever
/// written outside the library root, and no partial file is ever left.
/// Imports run on a thread of their own (they fsync): a test must never hold
/// one of the few cooperative threads the whole suite shares.
@Suite struct LibraryImportTests {
    /// A download folder and a library root side by side in one temporary
    /// directory, plus a sentinel folder that nothing may touch.
    struct Scene {
        let directory: TemporaryDirectory
        let download: String
        let library: String
        let outside: String

        init() throws {
            directory = try TemporaryDirectory()
            download = directory.path + "/download/Book"
            library = directory.path + "/library"
            outside = directory.path + "/outside"
            for path in [download, library, outside] {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            }
            try Data("secret".utf8).write(to: URL(fileURLWithPath: outside + "/secret.mp3"))
        }

        @discardableResult
        func file(_ relative: String, bytes: Int = 1000) throws -> Data {
            let path = download + "/" + relative
            try FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            let data = Data((0..<bytes).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ relative.utf8.count) })
            try data.write(to: URL(fileURLWithPath: path))
            return data
        }

        func run(
            _ values: [String: String] = ["author": "Jane Austen", "title": "Emma", "asin": "B0001"],
            mode: LibraryWriter.Mode = .copy
        ) async throws -> AudiobookImport.Outcome {
            let (download, library) = (self.download, self.library)
            return try await onOwnThread {
                try AudiobookImport(values: values, mode: mode).run(
                    try AudiobookFiles(at: download), from: download, into: try LibraryWriter(root: library))
            }
        }

        /// Every path under the temporary directory outside the download and the library.
        var everythingElse: [String] {
            let all = FileManager.default.enumerator(atPath: directory.path)?.allObjects as? [String] ?? []
            return all.filter { !$0.hasPrefix("download") && !$0.hasPrefix("library") }.sorted()
        }

        /// Every file in the library, relative to its root.
        var libraryFiles: [String] {
            (FileManager.default.enumerator(atPath: library)?.allObjects as? [String] ?? []).filter { path in
                var info = stat()
                return lstat(library + "/" + path, &info) == 0 && info.st_mode & S_IFMT != S_IFDIR
            }.sorted()
        }
    }

    @Test func namesThatLookLikePathsStayInsideTheBooksFolder() async throws {
        let scene = try Scene()
        try scene.file(#"x\..\..\..\evil.mp3"#)
        try scene.file(#"\etc\passwd.mp3"#)
        try scene.file("..mp3")  // hidden (a client's part file): passed over
        try scene.file("cover.jpg")
        try scene.file("notes.txt")  // not taken
        let outcome = try await scene.run(["author": "../../outside", "title": "/etc/passwd", "asin": ".."])
        #expect(outcome.folder == scene.library + "/outside/etc passwd")
        #expect(scene.libraryFiles == [
            "outside/etc passwd/cover.jpg", "outside/etc passwd/etc passwd.mp3", "outside/etc passwd/x .. .. .. evil.mp3",
        ])
        #expect(scene.everythingElse == ["outside", "outside/secret.mp3"], "nothing written beside the library")
    }

    @Test func oddUnicodeIsNormalisedAndInvisibleTricksRemoved() async throws {
        let scene = try Scene()
        try scene.file("Mu\u{0308}ller - Kapitel 1.mp3")  // decomposed ü
        try scene.file("invoice\u{202E}3pm.m4b")  // right-to-left override
        try scene.file("zero\u{200B}width.m4b")
        let outcome = try await scene.run(["author": "Ta\u{0308}nzer\u{0007}", "title": "A\u{FEFF}B"])
        #expect(outcome.folder == scene.library + "/Tänzer/AB")
        #expect(scene.libraryFiles == ["Tänzer/AB/Müller - Kapitel 1.mp3", "Tänzer/AB/invoice3pm.m4b", "Tänzer/AB/zerowidth.m4b"])
        for name in scene.libraryFiles {
            #expect(name == name.precomposedStringWithCanonicalMapping)
        }
    }

    @Test func longNamesAreCutTo255BytesKeepingTheExtension() async throws {
        let scene = try Scene()
        let longName = String(repeating: "é", count: 125) + "x.mp3"  // 250 + 1 + 4 = 255 bytes
        try scene.file(longName)
        try scene.file("sub/" + longName)  // the same name twice: the second is prefixed, then cut
        let outcome = try await scene.run(["author": String(repeating: "作", count: 120), "title": String(repeating: "t", count: 400)])
        for component in outcome.folder.dropFirst(scene.library.count + 1).split(separator: "/") {
            #expect(component.utf8.count <= 255)
        }
        #expect(outcome.files.count == 2)
        for file in outcome.files {
            #expect(file.name.utf8.count <= 255 && file.name.hasSuffix(".mp3"), "\(file.name)")
        }
        #expect(Set(outcome.files.map(\.name)).count == 2)
    }

    @Test func symbolicLinksInTheDownloadAreNeverFollowed() async throws {
        let scene = try Scene()
        try scene.file("01.mp3")
        symlink(scene.outside + "/secret.mp3", scene.download + "/02.mp3")
        symlink(scene.outside, scene.download + "/CD2")
        let found = try AudiobookFiles(at: scene.download)
        #expect(found.files.map(\.relativePath) == ["01.mp3"])
        #expect(found.skipped.sorted() == ["02.mp3: a symbolic link, not followed", "CD2: a symbolic link, not followed"])
        _ = try await scene.run()
        #expect(scene.libraryFiles == ["Jane Austen/Emma B0001/01.mp3"])
    }

    @Test func aSymbolicLinkInsideTheLibraryIsRefused() async throws {
        let scene = try Scene()
        try scene.file("01.mp3")
        symlink(scene.outside, scene.library + "/Jane Austen")
        await #expect(throws: ImportError.outsideLibrary("\(scene.library)/Jane Austen is a symbolic link")) { try await scene.run() }
        #expect(scene.everythingElse == ["outside", "outside/secret.mp3"])
    }

    @Test func aFileThatVanishesOrChangesDuringTheImportLeavesNothingBehind() async throws {
        for change in ["vanish", "truncate"] {
            let scene = try Scene()
            try scene.file("01.mp3")
            try scene.file("02.mp3", bytes: 300_000)
            try scene.file("03.mp3")
            let found = try AudiobookFiles(at: scene.download)
            // Between the listing and the copy, the client deletes or rewrites a file.
            if change == "vanish" {
                unlink(scene.download + "/02.mp3")
            } else {
                truncate(scene.download + "/02.mp3", 1000)
            }
            let (download, library) = (scene.download, scene.library)
            await #expect(throws: ImportError.self) {
                try await onOwnThread {
                    try AudiobookImport(values: ["author": "A", "title": "T"], mode: .copy).run(
                        found, from: download, into: try LibraryWriter(root: library))
                }
            }
            #expect(scene.libraryFiles.isEmpty, "\(change): the files placed before are removed again: \(scene.libraryFiles)")
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: scene.library + "/A/T")
            #expect(leftovers.isEmpty, "\(change): no temporary file left: \(leftovers)")
        }
    }

    @Test func collisionsGetNumbersAndARerunChangesNothing() async throws {
        let scene = try Scene()
        let first = try scene.file("CD1/01.mp3")
        try scene.file("CD2/01.mp3", bytes: 1200)
        try FileManager.default.createDirectory(atPath: scene.library + "/Jane Austen/Emma B0001", withIntermediateDirectories: true)
        try Data("someone else's".utf8).write(to: URL(fileURLWithPath: scene.library + "/Jane Austen/Emma B0001/CD1 - 01.mp3"))
        let outcome = try await scene.run()
        #expect(outcome.files.map(\.name) == ["CD1 - 01 (2).mp3", "CD2 - 01.mp3"])
        #expect(try Data(contentsOf: URL(fileURLWithPath: outcome.folder + "/CD1 - 01.mp3")) == Data("someone else's".utf8))
        #expect(try Data(contentsOf: URL(fileURLWithPath: outcome.folder + "/CD1 - 01 (2).mp3")) == first)
        let again = try await scene.run()
        #expect(again.files.map(\.placement) == [.alreadyThere, .alreadyThere])
        #expect(scene.libraryFiles.count == 3)
    }

    @Test func aTemporaryFileLeftByAKilledImportIsRemovedByTheNextOne() async throws {
        let scene = try Scene()
        try scene.file("01.mp3")
        let folder = scene.library + "/Jane Austen/Emma B0001"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        // A process that has exited: what a host killed with SIGKILL mid-copy leaves.
        let gone = Process()
        gone.executableURL = URL(fileURLWithPath: "/bin/true")
        try gone.run()
        gone.waitUntilExit()
        let host = LibraryWriter.hostName
        let abandoned = ".import-\(host)-\(gone.processIdentifier)-1f0e.part"
        let running = ".import-\(host)-\(getpid())-2a1b.part"
        let elsewhereFresh = ".import-otherhost-12-3c2d.part"
        let elsewhereOld = ".import-otherhost-13-4d3e.part"
        for name in [abandoned, running, elsewhereFresh, elsewhereOld] {
            try Data("half".utf8).write(to: URL(fileURLWithPath: folder + "/" + name))
        }
        try FileManager.default.setAttributes(
            [.modificationDate: Date(timeIntervalSinceNow: -3 * 86_400)], ofItemAtPath: folder + "/" + elsewhereOld)
        _ = try await scene.run()
        let left = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        #expect(left == [running, elsewhereFresh, "01.mp3"].sorted(), "a live writer's file and a fresh one from elsewhere stay")
    }

    @Test func hardLinksShareTheSeedingCopyWithoutChangingIt() async throws {
        let scene = try Scene()
        let data = try scene.file("01.m4b")
        var before = stat()
        stat(scene.download + "/01.m4b", &before)
        let outcome = try await scene.run(mode: .hardlink)
        #expect(outcome.files.map(\.placement) == [.linked])
        var source = stat()
        var linked = stat()
        stat(scene.download + "/01.m4b", &source)
        stat(outcome.folder + "/01.m4b", &linked)
        #expect(source.st_ino == linked.st_ino)
        #expect(source.st_mtim.tv_sec == before.st_mtim.tv_sec && source.st_mtim.tv_nsec == before.st_mtim.tv_nsec)
        #expect(try Data(contentsOf: URL(fileURLWithPath: scene.download + "/01.m4b")) == data)
    }

    @Test func noAudioFilesAndAMissingDownloadAreRetryable() async throws {
        let scene = try Scene()
        try scene.file("readme.nfo")
        await #expect(throws: ImportError.noAudioFiles(scene.download)) { try await scene.run() }
        #expect(throws: ImportError.downloadMissing(scene.download + "/gone")) {
            try AudiobookFiles(at: scene.download + "/gone")
        }
        #expect(ImportError.noAudioFiles("x").isRetryable && !ImportError.outsideLibrary("x").isRetryable)
        #expect(scene.libraryFiles.isEmpty)
    }

    @Test func aTemplateThatWouldLeaveTheLibraryIsRefused() {
        for (text, fragment) in [
            ("/abs/{title}", "must be relative"), ("{author}/../{title}", "may not contain '..'"),
            ("{author}/{nope}", "unknown field {nope}"), ("{author", "without its '}'"),
        ] {
            #expect {
                _ = try PathTemplate(text)
            } throws: { error in
                "\(error)".contains(fragment)
            }
        }
        let template = try? PathTemplate("{author}/{series} {seriesPart}/{title} ({year})")
        #expect(template?.components(["author": "A", "title": "T", "year": "2001"]) == ["A", "T (2001)"])
    }
}
