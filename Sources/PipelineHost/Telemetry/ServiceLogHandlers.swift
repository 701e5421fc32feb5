import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// How the host writes its log: `text` (swift-log's lines, with a time),
/// `json` (one object per line, for a log shipper), or `journal` (plain
/// lines without a time, which the journal adds).
public enum LogFormat: String, Sendable, CaseIterable {
    case text, json, journal

    /// `requested`, else what the output is: the journal when standard error
    /// is the stream systemd names in `JOURNAL_STREAM` (`device:inode`),
    /// plain text otherwise.
    public static func resolve(_ requested: LogFormat?, environment: [String: String] = ProcessInfo.processInfo.environment) -> LogFormat {
        if let requested { return requested }
        guard let stream = environment["JOURNAL_STREAM"] else { return .text }
        var info = stat()
        guard fstat(STDERR_FILENO, &info) == 0 else { return .text }
        return stream == "\(info.st_dev):\(info.st_ino)" ? .journal : .text
    }

    /// A handler writing this format to standard error, escaped
    /// (``EscapingLogHandler``) and at `level`.
    public func handler(label: String, level: Logger.Level) -> any LogHandler {
        let inner: any LogHandler =
            switch self {
            case .text: StreamLogHandler.standardError(label: label)
            case .json: LineLogHandler(label: label, style: .json)
            case .journal: LineLogHandler(label: label, style: .journal)
            }
        var handler = EscapingLogHandler(wrapping: inner)
        handler.logLevel = level
        return handler
    }
}

/// Writes one line per entry to standard error, as a JSON object or as a
/// plain journal line.
public struct LineLogHandler: LogHandler {
    public enum Style: Sendable { case json, journal }

    /// The metadata keys a JSON line carries at its top level, by the name
    /// it gives them: what an operator filters on.
    static let promoted: [(key: String, name: String)] = [
        ("job_type", "job_type"), ("job_id", "job_id"), ("plugin", "plugin"), ("request_id", "request"), ("request", "request"),
    ]

    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    let label: String
    let style: Style

    public init(label: String, style: Style) {
        self.label = label
        self.style = style
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(
        level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?, source: String, file: String,
        function: String, line: UInt
    ) {
        let merged = explicit.map { metadata.merging($0) { _, new in new } } ?? metadata
        let text = format(level: level, message: message.description, metadata: merged, time: Date())
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    /// The line for one entry, without its newline.
    public func format(level: Logger.Level, message: String, metadata: Logger.Metadata, time: Date) -> String {
        switch style {
        case .journal:
            let pairs = metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            return "\(level.rawValue) \(label): \(message)" + (pairs.isEmpty ? "" : " " + pairs)
        case .json:
            var rest = metadata
            var members: [(String, String)] = [
                ("time", Self.quoted(Self.timestamp(time))), ("level", Self.quoted(level.rawValue)), ("message", Self.quoted(message)),
                ("label", Self.quoted(label)),
            ]
            for (key, name) in Self.promoted {
                guard let value = rest.removeValue(forKey: key), !members.contains(where: { $0.0 == name }) else { continue }
                members.append((name, Self.quoted("\(value)")))
            }
            if !rest.isEmpty {
                let fields = rest.sorted { $0.key < $1.key }.map { "\(Self.quoted($0.key)):\(Self.quoted("\($0.value)"))" }
                members.append(("metadata", "{" + fields.joined(separator: ",") + "}"))
            }
            return "{" + members.map { "\(Self.quoted($0.0)):\($0.1)" }.joined(separator: ",") + "}"
        }
    }

    /// `text` as a JSON string.
    static func quoted(_ text: String) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return (try? encoder.encode(text)).map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
    }

    /// RFC 3339 with milliseconds, in UTC.
    static func timestamp(_ date: Date) -> String {
        Date.ISO8601FormatStyle(includingFractionalSeconds: true).format(date)
    }
}
