import Foundation
import PipelinePayloads
import PluginABI

/// The level of a log line sent to the host.
public enum PluginLogLevel: Int32, Sendable {
    case debug = 0
    case info = 1
    case warn = 2
    case error = 3
}

/// The host, as a plugin sees it outside any job: for logging from init or
/// from the plugin's own threads. Valid for the life of the process.
public struct PluginHost: @unchecked Sendable {
    package let api: UnsafePointer<pp_host_api>

    package init(api: UnsafePointer<pp_host_api>) {
        self.api = api
    }

    /// Writes one line to the host's log, tagged with the plugin.
    public func log(_ level: PluginLogLevel, _ message: String, metadata: [String: JSONValue] = [:]) {
        Self.log(api: api, call: nil, level, message, metadata: metadata)
    }

    static func log(
        api: UnsafePointer<pp_host_api>, call: OpaquePointer?, _ level: PluginLogLevel, _ message: String,
        metadata: [String: JSONValue]
    ) {
        let metadataJSON = metadata.isEmpty ? nil : try? JSONCoding.encode(metadata)
        withOptionalCString(metadataJSON) { metadataPointer in
            api.pointee.log(api.pointee.host_ctx, call, level.rawValue, message, metadataPointer)
        }
    }
}

/// The host's services during one call: logging to the job's event log,
/// progress, cancellation, and the effects that take place with the job's
/// outcome. Valid only until `execute` (or `check`) returns; do not keep it.
public struct JobContext: @unchecked Sendable {
    package let api: UnsafePointer<pp_host_api>
    package let call: OpaquePointer

    /// For the host, which runs its own driver jobs over the same services.
    package init(api: UnsafePointer<pp_host_api>, call: OpaquePointer) {
        self.api = api
        self.call = call
    }

    /// The host outside this call.
    public var host: PluginHost { PluginHost(api: api) }

    /// Writes one line to the host's log and to the job's event log.
    public func log(_ level: PluginLogLevel, _ message: String, metadata: [String: JSONValue] = [:]) {
        PluginHost.log(api: api, call: call, level, message, metadata: metadata)
    }

    /// Reports progress from 0 to 100, with optional details.
    public func progress(_ percent: Double, details: [String: JSONValue]? = nil) {
        let detailsJSON = details.flatMap { try? JSONCoding.encode($0) }
        _ = withOptionalCString(detailsJSON) { api.pointee.progress(call, percent, $0) }
    }

    /// Whether the host wants the job to stop (timeout, shutdown, a cancelled
    /// request). Check it between steps of long work.
    public var isCancelled: Bool {
        api.pointee.is_cancelled(call) != 0
    }

    /// Throws `CancellationError` when ``isCancelled``.
    public func checkCancellation() throws {
        if isCancelled { throw CancellationError() }
    }

    /// Asks that request `requestID` move to `status` once this job is done
    /// (or has failed its last attempt).
    ///
    /// - Throws: ``PluginError`` when the host refuses the transition.
    public func requestTransition(
        requestID: String, to status: String, details: [String: JSONValue]? = nil
    ) throws {
        let detailsJSON = details.flatMap { try? JSONCoding.encode($0) }
        let status32 = withOptionalCString(detailsJSON) {
            api.pointee.request_transition(call, requestID, status, $0)
        }
        try Self.check(status32, "request \(requestID) → \(status)")
    }

    /// Asks for a follow-up job once this job is done.
    ///
    /// - Parameters:
    ///   - jobType: the job type of the follow-up.
    ///   - payload: its data, any `Encodable` that encodes as a JSON object.
    ///   - delay: how long to wait before it may run.
    ///   - priority: its priority (lower is more urgent), or the job type's.
    ///   - jobID: a custom job id, to make the follow-up idempotent.
    public func enqueue(
        _ jobType: String, payload: some Encodable, delay: Duration? = nil, priority: Int? = nil,
        jobID: String? = nil
    ) throws {
        var options: [String: JSONValue] = [:]
        if let delay { options["delay_ms"] = .int(delay.wholeMilliseconds) }
        if let priority { options["priority"] = .int(Int64(priority)) }
        if let jobID { options["job_id"] = .string(jobID) }
        let payloadJSON = try JSONCoding.encode(payload)
        let optionsJSON = try JSONCoding.encode(options)
        try Self.check(api.pointee.enqueue(call, jobType, payloadJSON, optionsJSON), "enqueue \(jobType)")
    }

    /// The protocols of the releases the pipeline can download now
    /// ("torrent", "usenet"): those of the download clients that take new
    /// downloads. Empty with no client, or on a host without the service (since ABI 1.3).
    public var downloadProtocols: Set<String> {
        guard Int(api.pointee.struct_size) >= Int(PP_HOST_API_SIZE_1_3) else { return [] }
        let bits = api.pointee.download_protocols(call)
        var protocols: Set<String> = []
        if bits & PP_PROTOCOL_TORRENT != 0 { protocols.insert("torrent") }
        if bits & PP_PROTOCOL_USENET != 0 { protocols.insert("usenet") }
        return protocols
    }

    /// One book a library backend lists, for ``reportLibrary(backend:items:complete:)``.
    public typealias LibraryItem = LibraryBook

    /// Reports the books a library backend lists (`complete`: the whole
    /// library, so the host removes the backend's items not in it). Once the
    /// job is done the host records them and moves each open request they
    /// match to `available`. Needs a host of ABI 1.1 or later.
    ///
    /// - Throws: ``PluginError`` when the host is older or refuses the items.
    public func reportLibrary(backend: String, items: [LibraryItem], complete: Bool) throws {
        guard Int(api.pointee.struct_size) >= Int(PP_HOST_API_SIZE_1_1) else {
            throw PluginError.permanent("this host (ABI 1.\(api.pointee.abi_minor)) cannot take library reports: it needs 1.1")
        }
        let json = try JSONCoding.encode(items)
        try Self.check(api.pointee.report_library(call, backend, json, complete ? 1 : 0), "report the \(backend) library")
    }

    /// The requests `query` selects, with their books and latest downloads:
    /// for jobs that work through many requests, such as scheduled retries.
    /// Needs a host of ABI 1.2 or later that keeps a request ledger.
    ///
    /// - Throws: ``PluginError``: permanent when the host is older, has no
    ///   ledger or refuses the query; transient when its database cannot be
    ///   read (the job is tried again).
    public func findRequests(_ query: RequestQuery) throws -> [RequestSnapshot] {
        guard Int(api.pointee.struct_size) >= Int(PP_HOST_API_SIZE_1_2) else {
            throw PluginError.permanent("this host (ABI 1.\(api.pointee.abi_minor)) cannot find requests: it needs 1.2")
        }
        let queryJSON = try String(decoding: JSONEncoder().encode(query), as: UTF8.self)
        var out: UnsafePointer<CChar>? = nil
        let status = api.pointee.find_requests(call, queryJSON, &out)
        if status == PP_ERR_FAILED {
            throw PluginError.transient("the host cannot read its request ledger now; the job will be tried again")
        }
        try Self.check(status, "find requests")
        guard let out else { throw PluginError.permanent("the host found requests but handed back nothing") }
        do {
            return try JSONDecoder().decode([RequestSnapshot].self, from: Data(String(cString: out).utf8))
        } catch {
            throw PluginError.permanent("the host's request list is not what this plugin expects: \(error)")
        }
    }

    private static func check(_ status: pp_status, _ what: String) throws {
        switch status {
        case PP_OK: return
        case PP_ERR_REFUSED:
            var error = PluginError.permanent("the host refused: \(what)")
            error.isHostRefusal = true
            throw error
        case PP_ERR_UNSUPPORTED: throw PluginError.permanent("the host does not offer this here: \(what)")
        default: throw PluginError.permanent("the host rejected the arguments of: \(what)")
        }
    }
}

/// Calls `body` with a C string for `text`, or NULL when it is `nil`.
package func withOptionalCString<R>(_ text: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let text else { return body(nil) }
    return text.withCString { body($0) }
}
