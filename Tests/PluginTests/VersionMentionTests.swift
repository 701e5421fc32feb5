import Foundation
import Testing

/// Every plugin ABI version named in the README, the docs, the header's
/// comments and the sources' doc comments agrees with the header's macros.
///
/// A mention either states the current version ("ABI, version 1.2", "this
/// host speaks ABI 1.2", "**Plugin ABI 1.2**"), which must equal the
/// macros, or dates a feature ("since ABI 1.1", "Since 1.1.", "ABI 1.1 or
/// later", "a 1.1 host"), which must not be newer than them. "built for plugin
/// ABI 2.2" describes someone else's plugin, in an example of a refusal. Any
/// other mention fails, so that a new one must say which kind it is.
@Suite struct VersionMentionTests {
    struct Version: Comparable, CustomStringConvertible {
        var major: Int
        var minor: Int
        static func < (a: Version, b: Version) -> Bool { (a.major, a.minor) < (b.major, b.minor) }
        var description: String { "\(major).\(minor)" }
    }

    /// What a mention may say, by the words around it.
    enum Kind { case current, dated, plugins }

    static let patterns: [(Kind, String)] = [
        (.current, #"ABI, version (\d+)\.(\d+)"#),
        (.current, #"\*\*Plugin ABI (\d+)\.(\d+)\*\*"#),
        (.current, #"this host speaks ABI (\d+)\.(\d+)"#),
        (.current, #"this host's (\d+)\.(\d+)"#),
        (.current, #"for host ABI (\d+)\.(\d+)"#),
        (.current, #"the ABI (\d+)\.(\d+) header"#),
        (.dated, #"[Ss]ince (?:ABI )?(\d+)\.(\d+)"#),
        (.dated, #"ABI (\d+)\.(\d+) or later"#),
        (.dated, #"of a (\d+)\.(\d+) host"#),
        (.plugins, #"built for plugin ABI (\d+)\.(\d+)"#),
    ]

    /// The problems with the version mentions in `text` (from `file`), given the header's `current` version.
    static func problems(in text: String, file: String, current: Version) -> [String] {
        var problems: [String] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = String(line)
            let range = NSRange(line.startIndex..., in: line)
            var classified: [NSRange] = []
            for (kind, pattern) in patterns {
                for match in try! NSRegularExpression(pattern: pattern).matches(in: line, range: range) {
                    classified.append(match.range)
                    let field = { (i: Int) in Int((line as NSString).substring(with: match.range(at: i)))! }
                    let named = Version(major: field(1), minor: field(2))
                    let quoted = (line as NSString).substring(with: match.range)
                    switch kind {
                    case .current where named != current:
                        problems.append("\(file):\(number + 1): '\(quoted)' names \(named), but the header's macros say \(current)")
                    case .dated where named > current:
                        problems.append("\(file):\(number + 1): '\(quoted)' dates a feature to \(named), newer than the header's \(current)")
                    default: break
                    }
                }
            }
            let any = try! NSRegularExpression(pattern: #"(?:ABI|[Vv]ersion)[ ,]*(?:version )?\d+\.\d+"#)
            for match in any.matches(in: line, range: range)
            where !classified.contains(where: { NSIntersectionRange($0, match.range).length > 0 }) {
                // Versions of other things (a plugin's own "1.4.2", Swift 6.3) are not ABI versions.
                let quoted = (line as NSString).substring(with: match.range)
                guard quoted.hasPrefix("ABI") else { continue }
                problems.append(
                    "\(file):\(number + 1): '\(quoted)' neither states the current ABI nor dates a feature; "
                        + "write 'since ABI X.Y' or the current version in one of the forms this test knows")
            }
        }
        return problems
    }

    static func headerVersion() throws -> Version {
        let header = try String(contentsOfFile: packageRoot + "/Sources/PluginABI/include/pipeline_plugin.h", encoding: .utf8)
        func macro(_ name: String) throws -> Int {
            let line = try #require(header.split(separator: "\n").first { $0.hasPrefix("#define \(name) ") })
            return try #require(Int(line.split(separator: " ").last!))
        }
        return Version(major: try macro("PP_ABI_VERSION_MAJOR"), minor: try macro("PP_ABI_VERSION_MINOR"))
    }

    @Test func everyMentionAgreesWithTheHeader() throws {
        let current = try Self.headerVersion()
        let root = packageRoot
        var files = ["README.md", "Sources/PluginABI/include/pipeline_plugin.h"]
        files += try FileManager.default.contentsOfDirectory(atPath: root + "/docs").filter { $0.hasSuffix(".md") }.map { "docs/" + $0 }
        let sources = FileManager.default.enumerator(atPath: root + "/Sources")!
        while let path = sources.nextObject() as? String {
            if path.hasSuffix(".swift") || path.hasSuffix(".h") { files.append("Sources/" + path) }
        }
        var problems: [String] = []
        var statements = 0
        for file in Set(files).sorted() {
            let text = try String(contentsOfFile: root + "/" + file, encoding: .utf8)
            problems += Self.problems(in: text, file: file, current: current)
            if text.contains("ABI, version \(current)") || text.contains("**Plugin ABI \(current)**") { statements += 1 }
        }
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
        // The header, the ABI page and the README each state it.
        #expect(statements >= 3)
    }

    @Test func aDeliberateMismatchIsCaught() throws {
        let current = Version(major: 1, minor: 2)
        let stale = " * pipeline_plugin.h: the pipeline-host plugin ABI, version 1.0.\n"
        #expect(Self.problems(in: stale, file: "h", current: current) == [
            "h:1: 'ABI, version 1.0' names 1.0, but the header's macros say 1.2"
        ])
        #expect(Self.problems(in: "x\n- **Plugin ABI 1.1** (one C header)", file: "README.md", current: current).count == 1)
        #expect(Self.problems(in: "`report_library` (since ABI 1.3)", file: "d", current: current).count == 1)
        #expect(Self.problems(in: "`report_library` (ABI 1.1)", file: "d", current: current).count == 1)
        // Dated mentions and other plugins' versions are fine.
        #expect(Self.problems(in: "(since ABI 1.1) Since 1.0. a 1.1 host; built for plugin ABI 2.2", file: "d", current: current).isEmpty)
    }
}
