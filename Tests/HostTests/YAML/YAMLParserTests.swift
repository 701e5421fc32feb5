import PipelineHost
import Testing

@Suite struct YAMLParserTests {
    let parser = YAMLParser(file: "t.yaml")

    @Test func nodesKnowTheirPlace() throws {
        let root = try #require(try parser.parse(Array("a:\n  b: [1, 'two']\n".utf8)))
        guard case .mapping(let entries) = root.kind, case .mapping(let inner) = entries[0].value.kind,
            case .sequence(let items) = inner[0].value.kind
        else {
            Issue.record("unexpected shape")
            return
        }
        #expect(inner[0].key.location == SourceLocation(line: 2, column: 3))
        #expect(items.map(\.location) == [SourceLocation(line: 2, column: 7), SourceLocation(line: 2, column: 10)])
        #expect(items[1].kind.isQuotedString)
    }

    @Test func aliasesWithinTheLimitResolve() throws {
        let root = try #require(try parser.parse(Array("a: &x [1, 2]\nb: *x\n".utf8)))
        guard case .mapping(let entries) = root.kind, case .sequence(let items) = entries[1].value.kind else {
            Issue.record("unexpected shape")
            return
        }
        #expect(items.count == 2)
    }

    @Test func aliasBombIsRefusedWithoutExpanding() {
        // 10 levels of 10: a full expansion would be ten billion nodes.
        var text = "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1...10 {
            text += "l\(level): &l\(level) [" + Array(repeating: "*l\(level - 1)", count: 10).joined(separator: ", ") + "]\n"
        }
        let error = #expect(throws: DiagnosticsError.self) { try parser.parse(Array(text.utf8)) }
        #expect(error?.diagnostics.first?.message.contains("billion laughs") == true)
    }

    @Test func deepNestingIsRefused() {
        let text = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        let error = #expect(throws: DiagnosticsError.self) { try parser.parse(Array(text.utf8)) }
        #expect(error?.diagnostics.first?.message.contains("nesting deeper than 64 levels") == true)
    }

    @Test func unknownTagsAndUndefinedAliasesAreRefused() {
        #expect(throws: DiagnosticsError.self) { try parser.parse(Array("a: !!python/object x\n".utf8)) }
        #expect(throws: DiagnosticsError.self) { try parser.parse(Array("a: *nowhere\n".utf8)) }
    }

    @Test func tabsAfterIndentationAreFine() throws {
        #expect(try parser.parse(Array("a: \"x\ty\"\n# \tcomment\n".utf8)) != nil)
        let script = "config:\n  script: |\n    make\n    \tcd build && make\n  other: 1\n"
        #expect(try parser.parse(Array(script.utf8)) != nil)
    }

    @Test func aliasesCannotNestPastTheLimit() {
        var text = "a0: &a0 [x]\n"
        for level in 1...40 {
            text += "a\(level): &a\(level) [[[*a\(level - 1)]]]\n"
        }
        let error = #expect(throws: DiagnosticsError.self) { try parser.parse(Array(text.utf8)) }
        #expect(error?.diagnostics.first?.message.contains("nests deeper than 64 levels") == true)
    }
}

extension YAMLNode.Kind {
    var isQuotedString: Bool {
        if case .scalar(_, .quoted) = self { return true }
        return false
    }
}
