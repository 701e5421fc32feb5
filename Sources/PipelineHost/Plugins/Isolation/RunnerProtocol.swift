import Foundation
import PipelinePayloads

/// The messages between the host and a plugin runner (docs/plugin-isolation.md).
///
/// Each travels as one frame on the runner's stream socket: a 32-bit
/// little-endian length, then a type byte and the fields (``WireWriter``).
/// Calls are multiplexed by a call id the host chooses (never reused); a
/// host service the plugin calls during a call travels as a `service` frame
/// with a request id and is answered by a `serviceReply` to the same call.
enum RunnerProtocol {
    /// The largest frame either side accepts: a `report_library` list (64 MiB)
    /// with room to spare.
    static let maximumFrameBytes = 96 << 20

    /// Host → runner.
    enum Command {
        /// Run the plugin's `init` with `configJSON`.
        case start(name: String, configJSON: String)
        /// Run `job`; the effects the plugin may ask for are described by `policy`.
        case execute(call: UInt64, job: PluginJob, policy: RemotePolicy)
        /// Run the plugin's `check`.
        case check(call: UInt64)
        /// Ask call `call` to stop: `is_cancelled` turns 1 in the runner.
        case cancel(call: UInt64)
        /// The answer to a host service the plugin called during `call`.
        case serviceReply(call: UInt64, request: UInt64, ok: Bool, text: String?)
        /// Finish the calls in flight, run the plugin's `shutdown`, exit.
        case shutdown
    }

    /// Runner → host.
    enum Report {
        /// The plugin file passed the loader's checks; its descriptor.
        case loaded(PluginDescriptorInfo)
        /// The loader refused the file.
        case refused(code: String, problem: String, fix: String)
        /// `init` returned PP_OK.
        case started
        /// `init` failed, and why.
        case startFailed(String)
        /// Call `call` returned `code`, having reported `report`.
        case finished(call: UInt64, code: Int32, report: PluginCall.Report)
        /// A `check` returned `status`.
        case checked(call: UInt64, status: Int32, message: String?)
        /// The plugin called a host service that only the host can answer.
        case service(call: UInt64, request: UInt64, service: RemoteService)
    }

    /// What a call in the runner may ask of the host's effect policy.
    struct RemotePolicy: Sendable {
        /// The job types `enqueue` accepts; nil: `enqueue` is unsupported.
        var enqueueJobTypes: [String]?
        var offersRequestTransitions: Bool
        var checksTransitions: Bool
        var findsRequests: Bool
        var downloadProtocols: UInt32 = 0
    }

    /// A host service answered by the host during a call.
    enum RemoteService: Sendable {
        /// May request `requestID` move along `path`? Reply: ok, or not with the reason.
        case checkTransition(requestID: String, path: [String])
        /// `find_requests`: reply ok with the JSON array, or not with the error.
        case findRequests(queryJSON: String)
    }

    // MARK: - Encoding

    static func encode(_ command: Command) -> [UInt8] {
        var writer = WireWriter()
        switch command {
        case .start(let name, let config):
            writer.u8(1)
            writer.string(name)
            writer.string(config)
        case .execute(let call, let job, let policy):
            writer.u8(2)
            writer.u64(call)
            writer.string(job.id)
            writer.string(job.type)
            writer.i64(Int64(job.attempt))
            writer.i64(Int64(job.maxAttempts))
            writer.string(job.payloadJSON)
            writer.i64(job.createdAtMilliseconds)
            writer.bool(policy.enqueueJobTypes != nil)
            writer.strings(policy.enqueueJobTypes ?? [])
            writer.bool(policy.offersRequestTransitions)
            writer.bool(policy.checksTransitions)
            writer.bool(policy.findsRequests)
            writer.u32(policy.downloadProtocols)
        case .check(let call):
            writer.u8(3)
            writer.u64(call)
        case .cancel(let call):
            writer.u8(4)
            writer.u64(call)
        case .serviceReply(let call, let request, let ok, let text):
            writer.u8(5)
            writer.u64(call)
            writer.u64(request)
            writer.bool(ok)
            writer.optionalString(text)
        case .shutdown:
            writer.u8(6)
        }
        return writer.bytes
    }

    static func decodeCommand(_ bytes: [UInt8]) throws(WireError) -> Command {
        var reader = WireReader(bytes)
        switch try reader.u8() {
        case 1: return .start(name: try reader.string(), configJSON: try reader.string())
        case 2:
            let call = try reader.u64()
            let job = PluginJob(
                id: try reader.string(), type: try reader.string(), attempt: Int(clamping: try reader.i64()),
                maxAttempts: Int(clamping: try reader.i64()), payloadJSON: try reader.string(),
                createdAtMilliseconds: try reader.i64())
            let hasEnqueue = try reader.bool()
            let types = try reader.strings()
            let policy = RemotePolicy(
                enqueueJobTypes: hasEnqueue ? types : nil, offersRequestTransitions: try reader.bool(),
                checksTransitions: try reader.bool(), findsRequests: try reader.bool(), downloadProtocols: try reader.u32())
            return .execute(call: call, job: job, policy: policy)
        case 3: return .check(call: try reader.u64())
        case 4: return .cancel(call: try reader.u64())
        case 5:
            return .serviceReply(call: try reader.u64(), request: try reader.u64(), ok: try reader.bool(), text: try reader.optionalString())
        case 6: return .shutdown
        case let other: throw WireError("unknown command \(other)")
        }
    }

    static func encode(_ report: Report) -> [UInt8] {
        var writer = WireWriter()
        switch report {
        case .loaded(let info):
            writer.u8(1)
            writer.string(String(decoding: (try? JSONEncoder().encode(info)) ?? Data(), as: UTF8.self))
        case .refused(let code, let problem, let fix):
            writer.u8(2)
            writer.string(code)
            writer.string(problem)
            writer.string(fix)
        case .started:
            writer.u8(3)
        case .startFailed(let message):
            writer.u8(4)
            writer.string(message)
        case .finished(let call, let code, let report):
            writer.u8(5)
            writer.u64(call)
            writer.u32(UInt32(bitPattern: code))
            encode(report, into: &writer)
        case .checked(let call, let status, let message):
            writer.u8(6)
            writer.u64(call)
            writer.u32(UInt32(bitPattern: status))
            writer.optionalString(message)
        case .service(let call, let request, let service):
            writer.u8(7)
            writer.u64(call)
            writer.u64(request)
            switch service {
            case .checkTransition(let id, let path):
                writer.u8(1)
                writer.string(id)
                writer.strings(path)
            case .findRequests(let query):
                writer.u8(2)
                writer.string(query)
            }
        }
        return writer.bytes
    }

    static func decodeReport(_ bytes: [UInt8]) throws(WireError) -> Report {
        var reader = WireReader(bytes)
        switch try reader.u8() {
        case 1:
            let json = try reader.string()
            guard let info = try? JSONDecoder().decode(PluginDescriptorInfo.self, from: Data(json.utf8)) else {
                throw WireError("an unreadable descriptor")
            }
            return .loaded(info)
        case 2: return .refused(code: try reader.string(), problem: try reader.string(), fix: try reader.string())
        case 3: return .started
        case 4: return .startFailed(try reader.string())
        case 5:
            let call = try reader.u64()
            let code = Int32(bitPattern: try reader.u32())
            return .finished(call: call, code: code, report: try decodeCallReport(&reader))
        case 6:
            return .checked(call: try reader.u64(), status: Int32(bitPattern: try reader.u32()), message: try reader.optionalString())
        case 7:
            let call = try reader.u64()
            let request = try reader.u64()
            switch try reader.u8() {
            case 1: return .service(call: call, request: request, service: .checkTransition(requestID: try reader.string(), path: try reader.strings()))
            case 2: return .service(call: call, request: request, service: .findRequests(queryJSON: try reader.string()))
            case let other: throw WireError("unknown service \(other)")
            }
        case let other: throw WireError("unknown report \(other)")
        }
    }

    // MARK: - A call's report

    static func encode(_ report: PluginCall.Report, into writer: inout WireWriter) {
        writer.optionalString(report.result)
        writer.optionalString(report.errorMessage)
        writer.optionalString(report.errorDetails)
        writer.optionalI64(report.delayMilliseconds)
        writer.optionalString(report.payload)
        writer.bool(report.progress != nil)
        if let progress = report.progress {
            writer.double(progress.percent)
            writer.optionalString(progress.detailsJSON)
        }
        writer.u32(UInt32(report.events.count))
        for event in report.events {
            writer.u8(levelCode(event.level))
            writer.string(event.message)
            writer.optionalString(event.metadataJSON)
            writer.double(event.time.timeIntervalSince1970)
        }
        writer.u32(UInt32(clamping: report.droppedEvents))
        writer.u32(UInt32(report.effects.count))
        for effect in report.effects {
            switch effect {
            case .requestTransition(let id, let status, let details):
                writer.u8(1)
                writer.string(id)
                writer.string(status.rawValue)
                writer.optionalString(details)
            case .enqueue(let type, let payload, let options):
                writer.u8(2)
                writer.string(type)
                writer.string(payload)
                writer.optionalI64(options.delayMilliseconds)
                writer.optionalI64(options.priority.map(Int64.init))
                writer.optionalString(options.jobID)
            case .libraryReport(let backend, let items, let complete):
                writer.u8(3)
                writer.string(backend)
                writer.string(String(decoding: (try? JSONEncoder().encode(items)) ?? Data("[]".utf8), as: UTF8.self))
                writer.bool(complete)
            }
        }
    }

    static func decodeCallReport(_ reader: inout WireReader) throws(WireError) -> PluginCall.Report {
        var report = PluginCall.Report()
        report.result = try reader.optionalString()
        report.errorMessage = try reader.optionalString()
        report.errorDetails = try reader.optionalString()
        report.delayMilliseconds = try reader.optionalI64()
        report.payload = try reader.optionalString()
        if try reader.bool() {
            report.progress = PluginProgress(percent: try reader.double(), detailsJSON: try reader.optionalString())
        }
        let events = Int(try reader.u32())
        guard events <= PluginCall.maximumEvents else { throw WireError("more log lines than a call keeps") }
        for _ in 0..<events {
            let level = level(try reader.u8())
            let message = try reader.string()
            let metadata = try reader.optionalString()
            let time = Date(timeIntervalSince1970: try reader.double())
            report.events.append(PluginLogEvent(level: level, message: message, metadataJSON: metadata, time: time))
        }
        report.droppedEvents = Int(try reader.u32())
        let effects = Int(try reader.u32())
        for _ in 0..<effects {
            switch try reader.u8() {
            case 1:
                let id = try reader.string()
                guard let status = RequestStatus(rawValue: try reader.string()) else { throw WireError("an unknown request status") }
                report.effects.append(.requestTransition(requestID: id, status: status, detailsJSON: try reader.optionalString()))
            case 2:
                let type = try reader.string()
                let payload = try reader.string()
                let options = FollowUpOptions(
                    delayMilliseconds: try reader.optionalI64(), priority: try reader.optionalI64().map { Int(clamping: $0) },
                    jobID: try reader.optionalString())
                report.effects.append(.enqueue(jobType: type, payloadJSON: payload, options: options))
            case 3:
                let backend = try reader.string()
                let json = try reader.string()
                guard let items = try? JSONDecoder().decode([LibraryBook].self, from: Data(json.utf8)) else {
                    throw WireError("an unreadable library report")
                }
                report.effects.append(.libraryReport(backend: backend, items: items, complete: try reader.bool()))
            case let other: throw WireError("unknown effect \(other)")
            }
        }
        return report
    }

    static func levelCode(_ level: PluginLogEvent.Level) -> UInt8 {
        switch level {
        case .debug: 0
        case .info: 1
        case .warn: 2
        case .error: 3
        }
    }

    static func level(_ code: UInt8) -> PluginLogEvent.Level {
        switch code {
        case 0: .debug
        case 2: .warn
        case 3: .error
        default: .info
        }
    }
}
