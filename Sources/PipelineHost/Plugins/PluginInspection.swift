import Foundation

/// How `pipeline-host plugin …` shows a plugin, a refusal and an outcome.
public enum PluginInspection {
    public static func text(_ plugin: LoadedPlugin) -> String {
        let info = plugin.info
        let rows: [(String, String)] = [
            ("file", plugin.path),
            ("id", info.id),
            ("name", info.name),
            ("version", info.version),
            ("description", info.description ?? "-"),
            ("abi", "\(info.abiMajor).\(info.abiMinor) (descriptor \(info.structSize) bytes; host \(PluginLoader.hostDescriptorSize))"),
            ("build signature", info.buildSignature),
            ("job types", info.jobTypes.joined(separator: ", ")),
            ("execution", info.serialExecution ? "serial (one job at a time)" : "concurrent"),
            ("check", info.hasCheck ? "offered" : "not offered"),
            ("isolation", plugin.isolation.name == "process" ? "process (loaded and checked in a runner)" : "none (in this process)"),
        ]
        return rows.map { "\($0.0.padding(toLength: 16, withPad: " ", startingAt: 0)) \($0.1)" }.joined(separator: "\n")
    }

    public static func json(_ plugin: LoadedPlugin) throws -> String {
        struct Loaded: Encodable {
            var path: String
            var loaded = true
            var isolation: String
            var descriptor: PluginDescriptorInfo
        }
        return try encode(Loaded(path: plugin.path, isolation: plugin.isolation.name, descriptor: plugin.info))
    }

    public static func json(_ error: PluginLoadError) throws -> String {
        struct Refused: Encodable {
            var path: String
            var loaded = false
            var code: String
            var problem: String
            var fix: String
            var message: String
        }
        return try encode(
            Refused(path: error.path, code: error.code.description, problem: error.problem, fix: error.fix,
                    message: error.description))
    }

    public static func json(_ outcome: PluginCallOutcome) throws -> String {
        struct Event: Encodable {
            var level: String
            var message: String
            var metadata: String?
        }
        struct Effect: Encodable {
            var kind: String
            var requestID: String?
            var status: String?
            var jobType: String?
            var payload: String?
            var delayMilliseconds: Int64?
            var jobID: String?
        }
        struct Shown: Encodable {
            var outcome: String
            var result: String?
            var message: String?
            var details: String?
            var delayMilliseconds: Int64?
            var payload: String?
            var timedOut: Bool
            var progress: Double?
            var events: [Event]
            var effects: [Effect]
        }
        let effects = outcome.report.effects.map { effect -> Effect in
            switch effect {
            case .requestTransition(let requestID, let status, _):
                return Effect(kind: "request_transition", requestID: requestID, status: status.rawValue)
            case .enqueue(let jobType, let payload, let options):
                return Effect(
                    kind: "enqueue", jobType: jobType, payload: payload, delayMilliseconds: options.delayMilliseconds,
                    jobID: options.jobID)
            case .libraryReport(let backend, let items, let complete):
                return Effect(
                    kind: complete ? "library_listing" : "library_additions", jobType: backend,
                    payload: items.map { "\($0.id): \($0.title)" }.joined(separator: "\n"))
            }
        }
        return try encode(
            Shown(
                outcome: outcome.kind.rawValue, result: outcome.resultJSON, message: outcome.message,
                details: outcome.detailsJSON,
                delayMilliseconds: outcome.delay.map { $0.components.seconds * 1000 + $0.components.attoseconds / 1_000_000_000_000_000 },
                payload: outcome.payloadJSON, timedOut: outcome.timedOut, progress: outcome.report.progress?.percent,
                events: outcome.report.events.map { Event(level: $0.level.rawValue, message: $0.message, metadata: $0.metadataJSON) },
                effects: effects))
    }

    private static func encode(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
