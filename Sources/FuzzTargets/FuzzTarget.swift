import DownloadClientKit
import DriverJobs
import Foundation
import LibraryImport
import PipelineHost

/// The parsers that read what crosses a trust boundary, each as a function
/// of arbitrary bytes that must return (with a value or an error) and never
/// trap, hang or allocate without bound. `Fuzz/PipelineFuzz` hands them to
/// libFuzzer (`scripts/fuzz`); `FuzzCorpusTests` replays the kept corpus and
/// every crash found, so that a crash once found stays a regression test.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// pipeline.yaml: YAML syntax, aliases, typing and every setting's check.
    case configuration
    /// A BullMQ job hash as Redis returns it: the first line is `opts`, each
    /// later line a `field=value` of the hash.
    case jobHash = "job-hash"
    /// Admin API query strings (first line) and JSON bodies (the rest).
    case adminInput = "admin-input"
    /// Bencoded .torrent files, and magnet links (inputs starting `magnet:`).
    case torrent
    /// Cron expressions and durations (the first line is tried as both).
    case schedule
    /// Path templates (first line) with book metadata (later lines, `field=value`).
    case pathTemplate = "path-template"

    /// Runs one input through the target.
    public func run(_ data: Data) {
        switch self {
        case .configuration: Self.configuration(data)
        case .jobHash: Self.jobHash(data)
        case .adminInput: Self.adminInput(data)
        case .torrent: Self.torrent(data)
        case .schedule: Self.schedule(data)
        case .pathTemplate: Self.pathTemplate(data)
        }
    }

    static func lines(_ data: Data) -> (first: String, rest: [String]) {
        let text = String(decoding: data, as: UTF8.self)
        let parts = text.split(separator: "\n", maxSplits: 64, omittingEmptySubsequences: false).map(String.init)
        return (parts.first ?? "", Array(parts.dropFirst()))
    }

    static func fields(_ lines: [String]) -> [String: String] {
        var fields: [String: String] = [:]
        for line in lines {
            let pair = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            if pair.count == 2 { fields[String(pair[0])] = String(pair[1]) }
        }
        return fields
    }

    static func configuration(_ data: Data) {
        let loader = ConfigurationLoader(environment: ["SET": "value", "EMPTY": ""], defaultPluginDirectory: "/nonexistent")
        _ = try? loader.load(bytes: Array(data), file: "fuzz.yaml")
    }

    static func jobHash(_ data: Data) {
        let (opts, rest) = lines(data)
        var fields = fields(rest)
        fields["opts"] = opts
        FuzzEntryPoints.jobHash(fields: fields)
    }

    static func adminInput(_ data: Data) {
        let (query, rest) = lines(data)
        FuzzEntryPoints.adminQuery(query)
        FuzzEntryPoints.adminBody(Data(rest.joined(separator: "\n").utf8))
    }

    static func torrent(_ data: Data) {
        if data.starts(with: Array("magnet:".utf8)) {
            let text = String(decoding: data, as: UTF8.self)
            _ = MagnetLink.infoHash(of: text)
            _ = MagnetLink.redactingSecrets(text)
            return
        }
        if let metainfo = try? TorrentMetainfo(data) { _ = metainfo.infoHash }
    }

    static func schedule(_ data: Data) {
        let (text, _) = lines(data)
        if let cron = try? CronExpression(parsing: text) {
            var date = Date(timeIntervalSince1970: 1_796_000_000)
            for _ in 0..<3 {
                guard let next = cron.nextFireDate(after: date) else { break }
                date = next
            }
        }
        if case .success(let duration) = DurationSyntax.parse(text) { _ = DurationSyntax.format(duration) }
    }

    static func pathTemplate(_ data: Data) {
        let (text, rest) = lines(data)
        let values = fields(rest)
        if let template = try? PathTemplate(text) { _ = template.components(values) }
        for value in values.values {
            _ = FileNames.component(value)
            _ = FileNames.component(value, keepingExtension: true)
            _ = FileNames.component(value, fallback: "")
        }
    }
}
