import Foundation
import PluginABI
import PluginKit

@c public func pipeline_plugin_entry_v1(_ hostMajor: UInt32, _ hostMinor: UInt32)
    -> UnsafePointer<pp_plugin_descriptor>?
{
    PluginExport.descriptor(for: SwiftEchoPlugin.self, hostMajor: hostMajor, hostMinor: hostMinor)
}

/// A Swift plugin for the loader and PluginKit tests. Its payload's "mode"
/// picks what it does, like the C echo fixture's.
struct SwiftEchoPlugin: PipelinePlugin {
    static let info = PluginInfo(
        id: "org.pipeline.fixture.swiftecho", name: "Swift echo fixture", version: "1.0.0",
        jobTypes: ["swift.echo"], description: "A Swift plugin the tests use.")

    struct Config: Decodable {
        var greeting: String
    }

    struct Payload: Decodable {
        var mode: String
        var title: String?
    }

    let greeting: String

    init(configuration: PluginConfiguration, host: PluginHost) throws {
        greeting = try configuration.decode(Config.self).greeting
        host.log(.info, "Swift echo fixture ready", metadata: ["greeting": .string(greeting)])
    }

    func execute(_ job: Job, context: JobContext) async throws -> JobOutcome {
        let payload = try job.payload(as: Payload.self)
        switch payload.mode {
        case "retry":
            throw PluginError.transient("the indexer answered 503", retryAfter: .seconds(2))
        case "fail":
            throw PluginError.permanent("the API key was refused (401): set plugins.echo.config.api_key")
        case "throw":
            struct Unexpected: Error {}
            throw Unexpected()
        case "reschedule":
            return .reschedule(after: .milliseconds(2500), payload: ["polls": 1])
        case "wait_cancel":
            while !context.isCancelled {
                try await Task.sleep(for: .milliseconds(1))
            }
            try context.checkCancellation()
            return .done()
        case "sleep":
            // Only the host's cancellation, reaching this task, ends this early.
            try await Task.sleep(for: .seconds(30))
            return .done()
        case "thread":
            return .done(["thread": .string(currentThreadName())])
        case "effects":
            try context.requestTransition(requestID: "req-9", to: "downloading", details: ["reason": "added"])
            try context.enqueue("echo", payload: ["mode": "done"] as JSONValue, delay: .seconds(3), jobID: "follow-1")
            return .done()
        default:
            context.log(.warn, "echoing", metadata: ["lang": "swift", "attempt": .int(Int64(job.attempt))])
            context.progress(100)
            return .done(["greeting": .string(greeting), "title": payload.title.map(JSONValue.string) ?? .null])
        }
    }
}

/// The name of the thread running this code, as Linux knows it.
func currentThreadName() -> String {
    ((try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "?")
        .trimmingCharacters(in: .whitespacesAndNewlines)
}
