import Foundation
import PipelineJSON

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
            ("job types", info.jobTypes.isEmpty ? "-" : info.jobTypes.joined(separator: ", ")),
            ("interfaces", info.interfaces.summary.map { summary in
                summary + (info.interfaces.hostJobTypes.isEmpty ? "" : "; the host runs \(info.interfaces.hostJobTypes.joined(separator: ", ")) over it")
            } ?? "none"),
            ("execution", info.serialExecution ? "serial (one job at a time)" : "concurrent"),
            ("check", info.hasCheck ? (plugin.descriptor.check == nil && info.interfaces.offersAny ? "the driver's test" : "offered") : "not offered"),
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

    /// A call's outcome as `plugin run` prints it: every JSON the plugin
    /// handed over (result, details, payload, log metadata, transition
    /// details, follow-up payloads and options) as JSON, not as strings.
    public static func json(_ outcome: PluginCallOutcome) throws -> String {
        func value(_ text: String?) -> JSONValue? {
            guard let text else { return nil }
            return (try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))) ?? .string(text)
        }
        var object: [String: JSONValue] = [
            "outcome": .string(outcome.kind.rawValue), "timed_out": .bool(outcome.timedOut),
        ]
        object["result"] = value(outcome.resultJSON)
        object["message"] = outcome.message.map(JSONValue.string)
        object["details"] = value(outcome.detailsJSON)
        object["delay_ms"] = outcome.delay.map { .int($0.milliseconds) }
        object["payload"] = value(outcome.payloadJSON)
        object["progress"] = outcome.report.progress.map { progress in
            var shown: [String: JSONValue] = ["percent": .double(progress.percent)]
            shown["details"] = value(progress.detailsJSON)
            return .object(shown)
        }
        object["events"] = .array(
            outcome.report.events.map { event in
                var shown: [String: JSONValue] = ["level": .string(event.level.rawValue), "message": .string(event.message)]
                shown["metadata"] = value(event.metadataJSON)
                return .object(shown)
            })
        object["effects"] = .array(
            outcome.report.effects.map { effect -> JSONValue in
                switch effect {
                case .requestTransition(let requestID, let status, let details):
                    var shown: [String: JSONValue] = [
                        "kind": "request_transition", "request_id": .string(requestID), "status": .string(status.rawValue),
                    ]
                    shown["details"] = value(details)
                    return .object(shown)
                case .enqueue(let jobType, let payload, let options):
                    var shown: [String: JSONValue] = ["kind": "enqueue", "job_type": .string(jobType)]
                    shown["payload"] = value(payload)
                    var chosen: [String: JSONValue] = [:]
                    chosen["delay_ms"] = options.delayMilliseconds.map { .int($0) }
                    chosen["priority"] = options.priority.map { .int(Int64($0)) }
                    chosen["job_id"] = options.jobID.map(JSONValue.string)
                    shown["options"] = .object(chosen)
                    return .object(shown)
                case .libraryReport(let backend, let items, let complete):
                    return .object([
                        "kind": "report_library", "backend": .string(backend), "complete": .bool(complete),
                        "items": .array(items.map { .object(["id": .string($0.id), "title": .string($0.title), "author": .string($0.author)]) }),
                    ])
                }
            })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(JSONValue.object(object)), as: UTF8.self)
    }

    private static func encode(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
