import Foundation
import CLibYAML

/// Parses YAML with libyaml into ``YAMLNode``s that remember their place.
///
/// Beyond libyaml's own checks it refuses, with the place of each problem:
/// text that is not UTF-8, tabs in indentation, duplicate keys, more than one
/// document, nesting deeper than ``Limits/maxDepth``, and aliases that would
/// expand the document past ``Limits/maxNodes`` nodes (a "billion laughs"
/// file is refused at the first alias that crosses the limit, without being
/// expanded). YAML 1.1 merge keys (`<<: *base`) are supported.
public struct YAMLParser {
    /// Bounds that keep a hostile file from costing memory or stack.
    public struct Limits: Sendable {
        /// The most nodes the document may hold once aliases are counted
        /// at their full size.
        public var maxNodes: Int
        /// The deepest nesting of mappings and lists.
        public var maxDepth: Int

        public init(maxNodes: Int = 100_000, maxDepth: Int = 64) {
            self.maxNodes = maxNodes
            self.maxDepth = maxDepth
        }
    }

    public var file: String
    public var limits: Limits

    public init(file: String, limits: Limits = Limits()) {
        self.file = file
        self.limits = limits
    }

    /// Parses `bytes`.
    ///
    /// - Returns: the root node, or `nil` for a file with no document (empty,
    ///   or only comments).
    /// - Throws: ``DiagnosticsError`` with every problem found.
    public func parse(_ bytes: [UInt8]) throws(DiagnosticsError) -> YAMLNode? {
        if let problem = Self.firstInvalidUTF8(in: bytes) {
            throw DiagnosticsError([diagnostic(at: problem.location, problem.message)])
        }
        let tabs = Self.tabsInIndentation(in: bytes).map {
            diagnostic(at: $0, "tab in indentation: YAML indents with spaces only; replace the tab with spaces")
        }
        if !tabs.isEmpty { throw DiagnosticsError(tabs) }

        var builder = Builder(parser: self)
        let root = bytes.withUnsafeBufferPointer { buffer in builder.run(buffer) }
        if !builder.diagnostics.isEmpty { throw DiagnosticsError(builder.diagnostics) }
        return root
    }

    func diagnostic(at location: SourceLocation, _ message: String) -> Diagnostic {
        Diagnostic(file: file, location: location, message: message)
    }

    // MARK: - Checks before libyaml sees the text

    static func firstInvalidUTF8(in bytes: [UInt8]) -> (location: SourceLocation, message: String)? {
        if bytes.starts(with: [0xFF, 0xFE]) || bytes.starts(with: [0xFE, 0xFF]) {
            return (.start, "the file is UTF-16; save it as UTF-8")
        }
        var line = 1
        var column = 1
        var iterator = bytes.makeIterator()
        var parser = Unicode.UTF8.ForwardParser()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded):
                offset += encoded.count
                if encoded.count == 1, encoded.first == 0x0A {
                    line += 1
                    column = 1
                } else {
                    column += 1
                }
            case .emptyInput:
                return nil
            case .error(let length):
                let byte = bytes[offset]
                let hex = String(byte, radix: 16, uppercase: true)
                return (
                    SourceLocation(line: line, column: column),
                    "the file is not valid UTF-8 (byte 0x\(hex) at offset \(offset), \(length) bad byte(s)); "
                        + "save it as UTF-8"
                )
            }
        }
    }

    /// Lines whose indentation holds a tab. Lines inside a block scalar
    /// (after a key ending in `|` or `>`, more indented than that key) are
    /// content and may hold tabs after their indentation.
    static func tabsInIndentation(in bytes: [UInt8]) -> [SourceLocation] {
        var found: [SourceLocation] = []
        var blockParentIndent: Int?
        let lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
        for (index, line) in lines.enumerated() {
            let spaces = line.prefix { $0 == 0x20 }.count
            let rest = line.dropFirst(spaces)
            let isBlank = rest.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }
            if let parent = blockParentIndent {
                if isBlank || spaces > parent { continue }
                blockParentIndent = nil
            }
            if rest.first == 0x09, !isBlank, rest.first(where: { $0 != 0x09 && $0 != 0x20 }) != 0x23 {
                found.append(SourceLocation(line: index + 1, column: spaces + 1))
                continue
            }
            if startsBlockScalar(line) { blockParentIndent = spaces }
        }
        return found
    }

    /// Whether a line ends with a block scalar indicator (`|`, `>-`, `|+2`…),
    /// ignoring a trailing comment.
    private static func startsBlockScalar(_ line: ArraySlice<UInt8>) -> Bool {
        var text = String(decoding: line, as: UTF8.self)
        if let comment = text.range(of: " #") { text = String(text[..<comment.lowerBound]) }
        text = text.trimmingCharacters(in: .whitespaces)
        guard let indicator = text.lastIndex(where: { $0 == "|" || $0 == ">" }) else { return false }
        let tail = text[text.index(after: indicator)...]
        guard tail.allSatisfy({ $0 == "-" || $0 == "+" || $0.isNumber }) else { return false }
        let before = text[..<indicator].trimmingCharacters(in: .whitespaces)
        return before.isEmpty || before.hasSuffix(":") || before.hasSuffix("-")
    }
}

// MARK: - Events to nodes

extension YAMLParser {
    /// One libyaml event, copied out of libyaml's memory.
    fileprivate enum Event {
        case streamStart, streamEnd, documentStart, documentEnd
        case mappingStart(anchor: String?, tag: String?)
        case mappingEnd
        case sequenceStart(anchor: String?, tag: String?)
        case sequenceEnd
        case scalar(String, YAMLNode.ScalarStyle, anchor: String?, tag: String?)
        case alias(String)
    }

    fileprivate struct Failure: Error {}

    /// Turns libyaml's events into a tree, counting nodes as it goes.
    fileprivate struct Builder {
        let parser: YAMLParser
        var diagnostics: [Diagnostic] = []
        var anchors: [String: (node: YAMLNode, weight: Int, height: Int)] = [:]
        /// The deepest level reached so far while building the current node.
        var deepest = 0
        var nodeCount = 0
        var yaml = yaml_parser_t()

        init(parser: YAMLParser) {
            self.parser = parser
        }

        mutating func run(_ buffer: UnsafeBufferPointer<UInt8>) -> YAMLNode? {
            guard yaml_parser_initialize(&yaml) == 1 else {
                diagnostics.append(parser.diagnostic(at: .start, "libyaml could not start (out of memory?)"))
                return nil
            }
            defer { yaml_parser_delete(&yaml) }
            yaml_parser_set_input_string(&yaml, buffer.baseAddress, buffer.count)
            yaml_parser_set_encoding(&yaml, YAML_UTF8_ENCODING)
            do {
                return try document()
            } catch {
                return nil
            }
        }

        private mutating func document() throws -> YAMLNode? {
            guard case .streamStart = try next().event else { throw Failure() }
            let (first, firstLocation) = try next()
            switch first {
            case .streamEnd: return nil
            case .documentStart: break
            default: throw Failure()
            }
            _ = firstLocation
            let (event, location) = try next()
            let root = try node(from: event, at: location, depth: 0)
            guard case .documentEnd = try next().event else { throw Failure() }
            let (after, afterLocation) = try next()
            if case .documentStart = after {
                fail(at: afterLocation, "only one YAML document is allowed here; remove the second '---' and what follows")
            }
            return root
        }

        private mutating func node(from event: Event, at location: SourceLocation, depth: Int) throws -> YAMLNode {
            guard depth < parser.limits.maxDepth else {
                fail(at: location, "nesting deeper than \(parser.limits.maxDepth) levels; flatten the document")
                throw Failure()
            }
            let before = nodeCount
            let deepestBefore = deepest
            deepest = depth
            defer { deepest = max(deepest, deepestBefore) }
            try count(1, at: location)
            let built: YAMLNode
            let anchor: String?
            switch event {
            case .scalar(let text, let style, let scalarAnchor, let tag):
                anchor = scalarAnchor
                var style = style
                if let tag {
                    if tag == "tag:yaml.org,2002:str" || tag == "!" {
                        style = .quoted
                    } else {
                        fail(at: location, "YAML tag '\(tag)' is not supported here; remove it (quote the value for a string)")
                    }
                }
                built = YAMLNode(.scalar(text, style), at: location)
            case .alias(let name):
                guard let target = anchors[name] else {
                    fail(at: location, "alias *\(name) names no anchor defined before it")
                    throw Failure()
                }
                // The alias costs what its target holds, without expanding it,
                // and reaches as deep as its target does.
                guard depth + target.height < parser.limits.maxDepth else {
                    fail(at: location, "alias *\(name) nests deeper than \(parser.limits.maxDepth) levels; flatten the document")
                    throw Failure()
                }
                deepest = max(deepest, depth + target.height)
                try count(target.weight, at: location, alias: name)
                return YAMLNode(target.node.kind, at: location)
            case .sequenceStart(let sequenceAnchor, let tag):
                anchor = sequenceAnchor
                if let tag { fail(at: location, "YAML tag '\(tag)' is not supported here; remove it") }
                var items: [YAMLNode] = []
                while true {
                    let (event, itemLocation) = try next()
                    if case .sequenceEnd = event { break }
                    items.append(try node(from: event, at: itemLocation, depth: depth + 1))
                }
                built = YAMLNode(.sequence(items), at: location)
            case .mappingStart(let mappingAnchor, let tag):
                anchor = mappingAnchor
                if let tag { fail(at: location, "YAML tag '\(tag)' is not supported here; remove it") }
                built = try mapping(at: location, depth: depth)
            default:
                throw Failure()
            }
            if let anchor {
                anchors[anchor] = (built, nodeCount - before, deepest - depth)
            }
            return built
        }

        private mutating func mapping(at location: SourceLocation, depth: Int) throws -> YAMLNode {
            var entries: [(key: YAMLNode, value: YAMLNode)] = []
            var seen: [String: SourceLocation] = [:]
            var merged: [(key: YAMLNode, value: YAMLNode)] = []
            while true {
                let (event, keyLocation) = try next()
                if case .mappingEnd = event { break }
                let key = try node(from: event, at: keyLocation, depth: depth + 1)
                let (valueEvent, valueLocation) = try next()
                let value = try node(from: valueEvent, at: valueLocation, depth: depth + 1)
                guard case .scalar(let name, let style) = key.kind else {
                    fail(at: keyLocation, "a key must be a plain name, not \(key.summary)")
                    continue
                }
                if name == "<<", style == .plain {
                    merged.append(contentsOf: mergeEntries(from: value))
                    continue
                }
                if let first = seen[name] {
                    fail(at: keyLocation, "duplicate key '\(name)' (first defined at line \(first.line)); keep one of them")
                    continue
                }
                seen[name] = keyLocation
                entries.append((key, value))
            }
            for entry in merged {
                guard let name = entry.key.scalar, seen[name] == nil else { continue }
                seen[name] = entry.key.location
                entries.append(entry)
            }
            return YAMLNode(.mapping(entries), at: location)
        }

        private mutating func mergeEntries(from value: YAMLNode) -> [(key: YAMLNode, value: YAMLNode)] {
            switch value.kind {
            case .mapping(let entries):
                return entries
            case .sequence(let items):
                return items.flatMap { mergeEntries(from: $0) }
            case .scalar:
                fail(at: value.location, "'<<' merges a mapping (such as *defaults), not \(value.summary)")
                return []
            }
        }

        private mutating func count(_ nodes: Int, at location: SourceLocation, alias: String? = nil) throws {
            let (sum, overflow) = nodeCount.addingReportingOverflow(nodes)
            nodeCount = overflow ? Int.max : sum
            guard nodeCount > parser.limits.maxNodes else { return }
            if let alias {
                fail(
                    at: location,
                    "alias *\(alias) would expand the document past \(parser.limits.maxNodes) nodes; refusing "
                        + "to expand it (a 'billion laughs' file?)")
            } else {
                fail(at: location, "the document has more than \(parser.limits.maxNodes) nodes; refusing it")
            }
            throw Failure()
        }

        private mutating func fail(at location: SourceLocation, _ message: String) {
            diagnostics.append(parser.diagnostic(at: location, message))
        }

        /// The next event, or a diagnostic from libyaml's error and a throw.
        private mutating func next() throws -> (event: Event, location: SourceLocation) {
            var event = yaml_event_t()
            guard yaml_parser_parse(&yaml, &event) == 1 else {
                fail(at: Self.location(yaml.problem_mark), syntaxErrorMessage())
                throw Failure()
            }
            defer { yaml_event_delete(&event) }
            let location = Self.location(event.start_mark)
            switch event.type {
            case YAML_STREAM_START_EVENT: return (.streamStart, location)
            case YAML_STREAM_END_EVENT: return (.streamEnd, location)
            case YAML_DOCUMENT_START_EVENT: return (.documentStart, location)
            case YAML_DOCUMENT_END_EVENT: return (.documentEnd, location)
            case YAML_MAPPING_START_EVENT:
                let data = event.data.mapping_start
                return (.mappingStart(anchor: Self.text(data.anchor), tag: Self.text(data.tag)), location)
            case YAML_MAPPING_END_EVENT: return (.mappingEnd, location)
            case YAML_SEQUENCE_START_EVENT:
                let data = event.data.sequence_start
                return (.sequenceStart(anchor: Self.text(data.anchor), tag: Self.text(data.tag)), location)
            case YAML_SEQUENCE_END_EVENT: return (.sequenceEnd, location)
            case YAML_SCALAR_EVENT:
                let data = event.data.scalar
                let value = data.value.map {
                    String(decoding: UnsafeBufferPointer(start: $0, count: data.length), as: UTF8.self)
                } ?? ""
                let style: YAMLNode.ScalarStyle = data.style == YAML_PLAIN_SCALAR_STYLE ? .plain : .quoted
                let tag = Self.text(data.tag)
                return (.scalar(value, style, anchor: Self.text(data.anchor), tag: tag), location)
            case YAML_ALIAS_EVENT:
                return (.alias(Self.text(event.data.alias.anchor) ?? ""), location)
            default:
                fail(at: location, "unexpected YAML event")
                throw Failure()
            }
        }

        private func syntaxErrorMessage() -> String {
            let problem = yaml.problem.map { String(cString: $0) } ?? "unreadable YAML"
            var message = "YAML syntax error: \(problem)"
            if let context = yaml.context.map({ String(cString: $0) }) {
                message += " (\(context) at \(Self.location(yaml.context_mark)))"
            }
            return message
        }

        private static func location(_ mark: yaml_mark_t) -> SourceLocation {
            SourceLocation(line: Int(mark.line) + 1, column: Int(mark.column) + 1)
        }

        private static func text(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
            pointer.map { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
        }
    }
}
