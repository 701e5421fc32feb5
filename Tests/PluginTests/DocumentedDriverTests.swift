import Foundation
import PipelineHost
import Testing

/// The Deluge driver is the worked example of
/// docs/writing-a-download-client.md: the page holds the whole file and the
/// one `cc` line that builds it, and what the page shows is what ships.
@Suite struct DocumentedDriverTests {
    static let page = "docs/writing-a-download-client.md"
    static let file = "Plugins/DownloadDeluge/DownloadDeluge.c"

    /// The fenced block of `language` that follows the line `marker`.
    static func block(after marker: String, language: String) throws -> String {
        let document = try String(contentsOfFile: packageRoot + "/" + page, encoding: .utf8)
        let opening = marker + "\n```" + language + "\n"
        let start = try #require(document.range(of: opening), "\(page) has no \(marker) followed by a ```\(language) block")
        let end = try #require(document.range(of: "\n```\n", range: start.upperBound..<document.endIndex))
        return String(document[start.upperBound..<end.lowerBound]) + "\n"
    }

    @Test func thePageShowsTheShippedFileAndBuildsItWithOneCCLine() async throws {
        let shown = try Self.block(after: "<!-- example: \(Self.file) -->", language: "c")
        let shipped = try String(contentsOfFile: packageRoot + "/" + Self.file, encoding: .utf8)
        #expect(shown == shipped, "the example in \(Self.page) differs from \(Self.file)")

        // Within the size the issue promised a third party: at most 150
        // non-blank, non-comment lines.
        #expect(Self.codeLines(shipped) <= 150, "\(Self.codeLines(shipped)) lines")
        #expect(!shipped.contains("socket(") && !shipped.contains("#include <curl"), "no HTTP code of its own")

        let command = try Self.block(after: "<!-- build-example -->", language: "sh").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!command.contains("\n"), "one cc line")
        #expect(command.hasPrefix("cc "))
        let directory = try temporaryFolder("documented-driver")
        defer { try? FileManager.default.removeItem(at: directory) }
        let library = directory.appendingPathComponent("libDownloadDeluge.so").path
        let output = try #require(command.range(of: "-o libDownloadDeluge.so"), "the command writes libDownloadDeluge.so")
        let built = command.replacingCharacters(in: output, with: "-o '\(library)'") + " -Wall -Wextra -Werror"
        let (status, diagnostics) = try await offPool { () throws -> (Int32, String) in
            let shell = Process()
            shell.executableURL = URL(fileURLWithPath: "/bin/sh")
            shell.arguments = ["-c", built]
            shell.currentDirectoryURL = URL(fileURLWithPath: packageRoot)
            let errors = Pipe()
            shell.standardError = errors
            try shell.run()
            let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            shell.waitUntilExit()
            return (shell.terminationStatus, text)
        }
        #expect(status == 0, "\(built): \(diagnostics)")

        let plugin = try await loadPlugin(library)
        let client = try #require(plugin.info.interfaces.downloadClient)
        #expect((client.kind, client.displayName, client.protocols) == ("deluge", "Deluge", ["torrent"]))
        #expect(plugin.info.jobTypes == ["download_torrent", "monitor_download", "cleanup_seeded_torrents"], "the host's jobs, over the driver")
    }

    /// Lines that are neither blank nor only comment.
    static func codeLines(_ source: String) -> Int {
        var count = 0
        var inBlock = false
        for line in source.split(separator: "\n", omittingEmptySubsequences: false) {
            var code = ""
            var rest = Substring(line)
            while !rest.isEmpty {
                if inBlock {
                    guard let close = rest.range(of: "*/") else { rest = ""; break }
                    rest = rest[close.upperBound...]
                    inBlock = false
                } else if let open = rest.range(of: "/*"), rest.range(of: "//").map({ $0.lowerBound > open.lowerBound }) ?? true,
                    !rest[..<open.lowerBound].contains("\"")
                {
                    code += rest[..<open.lowerBound]
                    rest = rest[open.upperBound...]
                    inBlock = true
                } else {
                    code += rest
                    rest = ""
                }
            }
            if !code.trimmingCharacters(in: .whitespaces).isEmpty { count += 1 }
        }
        return count
    }
}
