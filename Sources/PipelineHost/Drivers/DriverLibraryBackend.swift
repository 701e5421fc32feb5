import Foundation
import LibraryBackendKit
import PipelineJSON
import PluginABI
import PluginKit

/// A plugin's `pp_library_backend` table as a ``LibraryBackendDriver``, for
/// the host's library jobs. Each function runs in a driver call of its own.
struct DriverLibraryBackend: LibraryBackendDriver, @unchecked Sendable {
    let table: pp_library_backend
    let binding: DriverBinding
    let kind: String
    var displayName: String { binding.displayName }

    init(table: pp_library_backend, binding: DriverBinding, interface: PluginInterfaces.LibraryBackend) {
        self.table = table
        self.binding = binding
        kind = interface.kind
    }

    func books(offset: Int, limit: Int, newestFirst: Bool) async throws -> LibraryPage {
        let page: JSONValue = ["offset": .int(Int64(offset)), "limit": .int(Int64(limit)), "newest_first": .bool(newestFirst)]
        let result = try invoke("books") { handle in page.jsonText.withCString { table.books!(binding.state, handle, $0) } }
        do {
            return try LibraryPage(json: result ?? .null)
        } catch {
            throw PluginError.transient("\(displayName)'s books answered \(DriverDownloadClient.excerpt(result)): \(error)")
        }
    }

    func requestScan(path: String?) async throws {
        _ = try invoke("scan") { handle in
            guard let path else { return table.scan!(binding.state, handle, nil) }
            return path.withCString { table.scan!(binding.state, handle, $0) }
        }
    }

    func test() async throws -> String {
        let result = try invoke("test") { handle in table.test!(binding.state, handle) }
        return result?["version"]?.stringValue ?? "\(displayName) answers"
    }

    private func invoke(_ function: String, _ body: (OpaquePointer) -> pp_driver_status) throws -> JSONValue? {
        let (status, message, result) = binding.invoke(function, body)
        guard status == PP_DRIVER_OK else {
            throw status == PP_DRIVER_PERMANENT ? PluginError.permanent(message) : PluginError.transient(message)
        }
        return result
    }
}
