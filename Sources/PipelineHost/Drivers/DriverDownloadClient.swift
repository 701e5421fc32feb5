import DownloadClientKit
import Foundation
import PipelineJSON
import PluginABI

/// A plugin's `pp_download_client` table as a ``DownloadClientDriver``: the
/// host's download jobs call it like any other client. Each function runs in
/// a driver call of its own (its log lines go to the job's log; it is
/// cancelled with the job), on the job's thread.
struct DriverDownloadClient: DownloadClientDriver, @unchecked Sendable {
    let table: pp_download_client
    let binding: DriverBinding
    let kind: String
    let protocols: Set<ReleaseProtocol>
    var displayName: String { binding.displayName }

    init(table: pp_download_client, binding: DriverBinding, interface: PluginInterfaces.DownloadClient) {
        self.table = table
        self.binding = binding
        kind = interface.kind
        protocols = Set(interface.protocols.compactMap(ReleaseProtocol.init(rawValue:)))
    }

    func add(_ item: DownloadItem) async throws(DownloadClientError) -> String {
        let result = try invoke("add") { handle in item.json.jsonText.withCString { table.add!(binding.state, handle, $0) } }
        guard let id = result?["id"]?.stringValue, !id.isEmpty, id.utf8.count <= 256 else {
            throw .unexpected("\(displayName)'s add answered \(Self.excerpt(result)) without an \"id\" (a string of at most 256 bytes)")
        }
        // A torrent's id is its info hash: held to the same form the host uses.
        return id.count == 40 && id.allSatisfy(\.isHexDigit) ? id.lowercased() : id
    }

    func status(of id: String) async throws(DownloadClientError) -> DownloadStatus? {
        let result = try invoke("status") { handle in id.withCString { table.status!(binding.state, handle, $0) } }
        guard let result, result != .null else { return nil }
        return try DownloadStatus(id: id, json: result)
    }

    func remove(_ id: String, deletingData: Bool) async throws(DownloadClientError) {
        _ = try invoke("remove") { handle in id.withCString { table.remove!(binding.state, handle, $0, deletingData ? 1 : 0) } }
    }

    func testConnection() async throws(DownloadClientError) -> String {
        let result = try invoke("test") { handle in table.test!(binding.state, handle) }
        return result?["version"]?.stringValue ?? "(version not given)"
    }

    private func invoke(_ function: String, _ body: (OpaquePointer) -> pp_driver_status) throws(DownloadClientError) -> JSONValue? {
        let (status, message, result) = binding.invoke(function, body)
        switch status {
        case PP_DRIVER_OK: return result
        case PP_DRIVER_TRANSIENT, PP_DRIVER_PERMANENT, PP_DRIVER_REJECTED: throw DownloadClientError(driverStatus: status, message: message)
        default: throw .unexpected(message)
        }
    }

    static func excerpt(_ value: JSONValue?) -> String {
        String((value?.jsonText ?? "nothing").prefix(120))
    }
}

/// What every driver function call needs besides its table: the plugin's
/// state, the job's call (its log lines go to the job; it is cancelled with
/// it), the instance's host context (cookies), and the name for messages.
struct DriverBinding: @unchecked Sendable {
    let state: UnsafeMutableRawPointer?
    /// The job's call, or nil outside a job (the conformance suite, a check).
    let parent: PluginCall?
    let hostContext: PluginHostContext?
    let displayName: String

    /// Runs one driver function in a call of its own, on the calling thread.
    ///
    /// - Returns: its status; for a failure, its message (or one that says
    ///   it gave none, or returned no PP_DRIVER_* status); what it set with
    ///   set_result.
    func invoke(_ function: String, _ body: (OpaquePointer) -> pp_driver_status) -> (pp_driver_status, String, JSONValue?) {
        let call = PluginCall(purpose: .execute, job: parent?.job, effectPolicy: .none, parent: parent)
        call.hostContext = hostContext
        let handle = PluginCallRegistry.register(call)
        let status = body(handle)
        PluginCallRegistry.unregister(handle)
        call.markReturned()
        let report = call.report
        var message = report.errorMessage ?? "\(displayName)'s \(function) returned \(status) without saying why (no set_error)"
        if ![PP_DRIVER_OK, PP_DRIVER_TRANSIENT, PP_DRIVER_PERMANENT, PP_DRIVER_REJECTED].contains(status) {
            message = "\(displayName)'s \(function) returned \(status), not a PP_DRIVER_* status: \(message)"
        }
        return (status, message, report.result.flatMap(JSONValue.init(jsonText:)))
    }
}
