import Foundation
import Logging
import PipelinePayloads
import PluginABI

/// The host's side of a plugin: what `host_ctx` points to.
final class PluginHostContext: Sendable {
    /// The plugin's entry name in pipeline.yaml.
    let name: String
    let pluginID: String
    let logger: Logger
    /// Its HTTP through the host: clients and cookies.
    let http = PluginHTTPSession()

    init(name: String, pluginID: String, logger: Logger) {
        self.name = name
        self.pluginID = pluginID
        self.logger = logger
    }

    /// For a call no instance runs (none should): cookies kept apart.
    static let detached = PluginHostContext(name: "detached", pluginID: "", logger: Logger(label: "pipeline-host"))
}

/// Builds the `pp_host_api` table a plugin instance receives, and holds the
/// C functions behind it. Each function finds its ``PluginCall`` through the
/// ``PluginCallRegistry``, copies its arguments, and returns.
enum HostServicesTable {
    /// A table for one plugin instance. It is never freed: the ABI promises
    /// the plugin that it lives as long as the process.
    static func make(for context: PluginHostContext) -> UnsafeMutablePointer<pp_host_api> {
        let table = UnsafeMutablePointer<pp_host_api>.allocate(capacity: 1)
        table.initialize(
            to: pp_host_api(
                struct_size: UInt32(MemoryLayout<pp_host_api>.size),
                abi_major: UInt32(PP_ABI_VERSION_MAJOR),
                abi_minor: UInt32(PP_ABI_VERSION_MINOR),
                reserved0: 0,
                host_ctx: Unmanaged.passRetained(context).toOpaque(),
                log: log, progress: progress, is_cancelled: isCancelled, set_result: setResult,
                set_error: setError, set_delay: setDelay, set_payload: setPayload,
                request_transition: requestTransition, enqueue: enqueue, report_library: reportLibrary,
                find_requests: findRequests, http_request: HostContentServices.httpRequest, json_get: HostContentServices.jsonGet,
                json_set: HostContentServices.jsonSet, download_protocols: downloadProtocols))
        return table
    }

    private static let log:
        @convention(c) (UnsafeMutableRawPointer?, OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?)
            -> Void = { hostContext, handle, level, message, metadata in
                guard let hostContext, let message else { return }
                let context = Unmanaged<PluginHostContext>.fromOpaque(hostContext).takeUnretainedValue()
                let text = boundedString(message, PluginCall.maximumMessageBytes)
                var metadataJSON = metadata.map { boundedString($0, maximumJSONBytes / 16 + 1) }
                if let raw = metadataJSON, raw.utf8.count > maximumJSONBytes / 16 {
                    metadataJSON = nil
                    context.logger.warning(
                        "plugin log metadata over \(maximumJSONBytes / 16) bytes; dropped", metadata: ["plugin": "\(context.name)"])
                }
                if let raw = metadataJSON,
                    (try? JSONSerialization.jsonObject(with: Data(raw.utf8))) as? [String: Any] == nil
                {
                    metadataJSON = nil
                    context.logger.warning(
                        "plugin log metadata is not a JSON object; dropped", metadata: ["plugin": "\(context.name)"])
                }
                let eventLevel: PluginLogEvent.Level =
                    switch level {
                    case PP_LOG_DEBUG: .debug
                    case PP_LOG_WARN: .warn
                    case PP_LOG_ERROR: .error
                    default: .info
                    }
                var logMetadata: Logger.Metadata = ["plugin": "\(context.name)"]
                if let metadataJSON { logMetadata["data"] = "\(metadataJSON)" }
                let call = PluginCallRegistry.call(for: handle)
                if let job = call?.job {
                    logMetadata["job_id"] = "\(job.id)"
                    logMetadata["job_type"] = "\(job.type)"
                }
                let swiftLevel: Logger.Level =
                    switch eventLevel {
                    case .debug: .debug
                    case .info: .info
                    case .warn: .warning
                    case .error: .error
                    }
                context.logger.log(level: swiftLevel, "\(text)", metadata: logMetadata)
                if eventLevel != .debug {
                    call?.appendEvent(PluginLogEvent(level: eventLevel, message: text, metadataJSON: metadataJSON, time: Date()))
                }
            }

    private static let progress: @convention(c) (OpaquePointer?, Double, UnsafePointer<CChar>?) -> pp_status = {
        handle, percent, details in
        guard let call = PluginCallRegistry.call(for: handle), call.purpose == .execute else {
            return PP_ERR_UNSUPPORTED
        }
        guard percent.isFinite, let detailsJSON = validJSON(details, allowNull: true) else {
            return PP_ERR_INVALID_ARGUMENT
        }
        call.update { $0.progress = PluginProgress(percent: min(100, max(0, percent)), detailsJSON: detailsJSON.text) }
        return PP_OK
    }

    private static let isCancelled: @convention(c) (OpaquePointer?) -> UInt32 = { handle in
        guard let call = PluginCallRegistry.call(for: handle) else { return 1 }
        return call.isCancelled ? 1 : 0
    }

    private static let setResult: @convention(c) (OpaquePointer?, UnsafePointer<CChar>?) -> pp_status = {
        handle, json in
        guard let call = PluginCallRegistry.call(for: handle), call.purpose == .execute else {
            return PP_ERR_UNSUPPORTED
        }
        guard let result = validJSON(json, allowNull: false, fragments: true)?.text else {
            return PP_ERR_INVALID_ARGUMENT
        }
        call.update { $0.result = result }
        return PP_OK
    }

    private static let setError:
        @convention(c) (OpaquePointer?, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> pp_status = {
            handle, message, details in
            guard let call = PluginCallRegistry.call(for: handle) else { return PP_ERR_UNSUPPORTED }
            guard let message, let detailsJSON = validJSON(details, allowNull: true) else {
                return PP_ERR_INVALID_ARGUMENT
            }
            let text = boundedString(message, 16 << 10)
            guard (detailsJSON.text?.utf8.count ?? 0) <= maximumJSONBytes / 16 else { return PP_ERR_INVALID_ARGUMENT }
            call.update {
                $0.errorMessage = text
                $0.errorDetails = detailsJSON.text
            }
            return PP_OK
        }

    private static let setDelay: @convention(c) (OpaquePointer?, Int64) -> pp_status = { handle, milliseconds in
        guard let call = PluginCallRegistry.call(for: handle), call.purpose == .execute else {
            return PP_ERR_UNSUPPORTED
        }
        guard (0...JobLimits.maximumDelayMilliseconds).contains(milliseconds) else { return PP_ERR_INVALID_ARGUMENT }
        call.update { $0.delayMilliseconds = milliseconds }
        return PP_OK
    }

    private static let setPayload: @convention(c) (OpaquePointer?, UnsafePointer<CChar>?) -> pp_status = {
        handle, json in
        guard let call = PluginCallRegistry.call(for: handle), call.purpose == .execute else {
            return PP_ERR_UNSUPPORTED
        }
        guard let payload = validJSON(json, allowNull: false, object: true)?.text else {
            return PP_ERR_INVALID_ARGUMENT
        }
        call.update { $0.payload = payload }
        return PP_OK
    }

    private static let requestTransition:
        @convention(c) (OpaquePointer?, UnsafePointer<CChar>?, UnsafePointer<CChar>?, UnsafePointer<CChar>?)
            -> pp_status = { handle, requestID, status, details in
                guard let call = PluginCallRegistry.call(for: handle), call.purpose == .execute,
                    call.effectPolicy.offersRequestTransitions
                else { return PP_ERR_UNSUPPORTED }
                guard let requestID, let status, let detailsJSON = validJSON(details, allowNull: true, object: true),
                    let target = RequestStatus(rawValue: boundedString(status, 64))
                else { return PP_ERR_INVALID_ARGUMENT }
                let id = boundedString(requestID, 256)
                guard !id.isEmpty else { return PP_ERR_INVALID_ARGUMENT }
                do {
                    _ = try RequestUpdate(detailsJSON: detailsJSON.text)
                } catch {
                    call.appendEvent(PluginLogEvent(level: .warn, message: "transition refused: \(error)", metadataJSON: nil, time: Date()))
                    return PP_ERR_INVALID_ARGUMENT
                }
                // The moves this call asked for before apply first, in order:
                // check the whole path from the request's status now.
                let path = call.report.effects.compactMap { effect -> RequestStatus? in
                    if case .requestTransition(id, let status, _) = effect { status } else { nil }
                } + [target]
                let refusal = call.effectPolicy.checkTransition?(id, path)
                if let refusal {
                    call.appendEvent(PluginLogEvent(level: .warn, message: "transition refused: \(refusal)", metadataJSON: nil, time: Date()))
                    return PP_ERR_REFUSED
                }
                call.update {
                    $0.effects.append(.requestTransition(requestID: id, status: target, detailsJSON: detailsJSON.text))
                }
                return PP_OK
            }

    private static let enqueue:
        @convention(c) (OpaquePointer?, UnsafePointer<CChar>?, UnsafePointer<CChar>?, UnsafePointer<CChar>?)
            -> pp_status = { handle, jobType, payload, options in
                guard let call = PluginCallRegistry.call(for: handle), call.purpose == .execute else {
                    return PP_ERR_UNSUPPORTED
                }
                let policy = call.effectPolicy.enqueue
                if case .unsupported = policy { return PP_ERR_UNSUPPORTED }
                guard let jobType, let payloadJSON = validJSON(payload, allowNull: false, object: true)?.text,
                    let optionsJSON = validJSON(options, allowNull: true, object: true)
                else { return PP_ERR_INVALID_ARGUMENT }
                let type = boundedString(jobType, 256)
                if case .jobTypes(let known) = policy, !known.contains(type) { return PP_ERR_REFUSED }
                var followUp = FollowUpOptions()
                if let text = optionsJSON.text {
                    guard let decoded = try? JSONDecoder().decode(FollowUpOptions.self, from: Data(text.utf8)) else {
                        return PP_ERR_INVALID_ARGUMENT
                    }
                    followUp = decoded
                }
                if let problem = followUp.problem {
                    call.appendEvent(PluginLogEvent(level: .warn, message: "enqueue refused: \(problem)", metadataJSON: nil, time: Date()))
                    return PP_ERR_INVALID_ARGUMENT
                }
                call.update { $0.effects.append(.enqueue(jobType: type, payloadJSON: payloadJSON, options: followUp)) }
                return PP_OK
            }

    private static let reportLibrary:
        @convention(c) (OpaquePointer?, UnsafePointer<CChar>?, UnsafePointer<CChar>?, UInt32) -> pp_status = {
            handle, backend, items, complete in
            // Not in a driver call: effects belong to the job the host runs.
            guard let call = PluginCallRegistry.call(for: handle), call.purpose == .execute, call.parent == nil else {
                return PP_ERR_UNSUPPORTED
            }
            guard let backend, let items else { return PP_ERR_INVALID_ARGUMENT }
            let name = boundedString(backend, 256)
            guard !name.isEmpty, name.count <= 64 else { return PP_ERR_INVALID_ARGUMENT }
            let books: [LibraryBook]
            guard strnlen(items, maximumLibraryReportBytes + 1) <= maximumLibraryReportBytes else {
                call.appendEvent(
                    PluginLogEvent(
                        level: .warn, message: "library report refused: over \(maximumLibraryReportBytes) bytes; report in pages",
                        metadataJSON: nil, time: Date()))
                return PP_ERR_INVALID_ARGUMENT
            }
            do {
                books = try LibraryReport.books(fromJSON: String(cString: items))
            } catch {
                call.appendEvent(PluginLogEvent(level: .warn, message: "library report refused: \(error)", metadataJSON: nil, time: Date()))
                return PP_ERR_INVALID_ARGUMENT
            }
            call.update { $0.effects.append(.libraryReport(backend: name, items: books, complete: complete != 0)) }
            return PP_OK
        }

    private static let downloadProtocols: @convention(c) (OpaquePointer?) -> UInt32 = { handle in
        guard let call = PluginCallRegistry.call(for: handle), call.purpose == .execute else { return 0 }
        return call.effectPolicy.downloadProtocols
    }

    private static let findRequests:
        @convention(c) (OpaquePointer?, UnsafePointer<CChar>?, UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> pp_status = {
            handle, queryJSON, out in
            guard let call = PluginCallRegistry.call(for: handle), call.purpose == .execute,
                let find = call.effectPolicy.findRequests
            else { return PP_ERR_UNSUPPORTED }
            guard let queryJSON, let out, let text = String(validatingCString: queryJSON) else { return PP_ERR_INVALID_ARGUMENT }
            out.pointee = nil
            func warn(_ message: String) {
                call.appendEvent(PluginLogEvent(level: .warn, message: message, metadataJSON: nil, time: Date()))
            }
            let query: RequestQuery
            do {
                query = try JSONDecoder().decode(RequestQuery.self, from: Data(text.utf8))
            } catch {
                warn("find_requests: the query is not an object with \"status\", \"order\" and \"limit\": \(error)")
                return PP_ERR_INVALID_ARGUMENT
            }
            switch find(query) {
            case .success(let snapshots):
                guard let data = try? JSONEncoder().encode(snapshots) else { return PP_ERR_FAILED }
                out.pointee = call.lend(String(decoding: data, as: UTF8.self))
                return PP_OK
            case .failure(.invalidQuery(let why)):
                warn("find_requests: \(why)")
                return PP_ERR_INVALID_ARGUMENT
            case .failure(let error):
                warn("find_requests: the request ledger cannot be read: \(error)")
                return PP_ERR_FAILED
            }
        }

    /// The text behind `pointer`, at most `bytes` of it read (then cut with "…").
    static func boundedString(_ pointer: UnsafePointer<CChar>, _ bytes: Int) -> String {
        let length = strnlen(pointer, bytes + 1)
        let text = String(decoding: UnsafeRawBufferPointer(start: pointer, count: min(length, bytes + 1)), as: UTF8.self)
        return length > bytes ? PluginCall.truncated(text, to: bytes) : text
    }

    /// The largest JSON a plugin may hand over in one argument (a result, a
    /// payload, a follow-up's payload): 1 MiB, since each lands in a Redis
    /// hash and a history row. Metadata and error details get a sixteenth.
    static let maximumJSONBytes = 1 << 20

    /// The largest `report_library` list: 64 MiB, some hundred thousand books.
    static let maximumLibraryReportBytes = 64 << 20

    /// A JSON argument that passed its checks; `text` is `nil` for a NULL
    /// the service allows.
    private struct JSONArgument {
        var text: String?
    }

    /// The JSON text behind `pointer` if it parses (and is an object, when
    /// `object`), or `nil` when it is invalid.
    private static func validJSON(
        _ pointer: UnsafePointer<CChar>?, allowNull: Bool, object: Bool = false, fragments: Bool = false
    ) -> JSONArgument? {
        guard let pointer else { return allowNull ? JSONArgument(text: nil) : nil }
        guard strnlen(pointer, maximumJSONBytes + 1) <= maximumJSONBytes, let text = String(validatingCString: pointer) else {
            return nil
        }
        guard let parsed = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) else {
            return nil
        }
        if object, !(parsed is [String: Any]) { return nil }
        if !object, !fragments, !(parsed is [String: Any]) { return nil }
        return JSONArgument(text: text)
    }
}
