import CheckedArithmetic
import Foundation
import PluginABI
import PluginHTTP
import PluginKit

/// The plugin of a Swift library backend: the ABI's library-backend
/// interface (`PP_EXTENSION_LIBRARY_BACKEND`) over any ``LibraryBackend``.
/// The host runs `scan_library` and `library_recently_added_check` over it.
/// Export it from the backend's library:
///
/// ```swift
/// @c public func pipeline_plugin_entry_v1(_ major: UInt32, _ minor: UInt32)
///     -> UnsafePointer<pp_plugin_descriptor>?
/// {
///     PluginExport.descriptor(for: LibraryBackendPlugin<JellyfinServer>.self, hostMajor: major, hostMinor: minor)
/// }
/// ```
///
/// Its config: `url`, `token`, `library_id` (``LibraryServerSettings``) and
/// the keys of ``LibraryBackendSettings``, which the host's jobs read too.
public struct LibraryBackendPlugin<Backend: LibraryBackend>: PipelinePlugin, LibraryBackendDriverProviding {
    public static var info: PluginInfo {
        var info = Backend.pluginInfo
        info.jobTypes = []
        return info
    }

    public static var extensionTables: [PluginExtensionTable] {
        [PluginExtensionTable(id: PP_EXTENSION_LIBRARY_BACKEND, table: UnsafeRawPointer(LibraryBackendTable.table(kind: Backend.backendName, displayName: Backend.displayName)))]
    }

    public let driver: any LibraryBackendDriver

    /// The config keys of the server. `library_id` may be written as a
    /// number (Plex's keys are: `library_id: 3`, or `${LIBRARY_ID}` set to 3).
    struct ServerKeys: Decodable {
        var url: String?
        var token: String?
        var libraryID: String?

        enum CodingKeys: String, CodingKey {
            case url, token
            case libraryID = "library_id"
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            url = try container.decodeIfPresent(String.self, forKey: .url)
            token = try container.decodeIfPresent(String.self, forKey: .token)
            if let number = try? container.decodeIfPresent(Int64.self, forKey: .libraryID) {
                libraryID = String(number)
            } else {
                libraryID = try container.decodeIfPresent(String.self, forKey: .libraryID)
            }
        }
    }

    public init(configuration: PluginConfiguration, host: PluginHost) throws {
        let keys = try configuration.decode(ServerKeys.self)
        let settings = try configuration.decode(LibraryBackendSettings.self)
        guard let url = keys.url.flatMap(URL.serverBase) else {
            throw PluginError.permanent("bad plugin config: url '\(keys.url ?? "")' is not a URL such as \(Backend.exampleURL)")
        }
        let backend = try Backend(
            server: LibraryServerSettings(url: url, token: keys.token ?? "", libraryID: keys.libraryID ?? ""),
            http: HTTPClient(timeout: .milliseconds(Int64(saturating: settings.requestTimeoutSeconds * 1000))))
        driver = SwiftLibraryDriver(backend: backend)
    }

    /// The interface is the whole plugin: a job reaching `execute` is a host bug.
    public func execute(_ job: Job, context: JobContext) async throws -> JobOutcome {
        .fail("\(Backend.displayName) is a library-backend driver: the host runs '\(job.type)' over it")
    }

    /// `validate --probe`: the server takes the credentials and the library is there.
    public func check(context: JobContext) async throws {
        context.log(.info, try await driver.test())
    }
}

/// A ``LibraryBackend`` as a ``LibraryBackendDriver``.
struct SwiftLibraryDriver<Backend: LibraryBackend>: LibraryBackendDriver {
    let backend: Backend

    var kind: String { Backend.backendName }
    var displayName: String { Backend.displayName }

    func books(offset: Int, limit: Int, newestFirst: Bool) async throws -> LibraryPage {
        try await backend.books(offset: offset, limit: limit, newestFirst: newestFirst)
    }

    func requestScan(path: String?) async throws {
        try await backend.requestScan(path: path)
    }

    func test() async throws -> String {
        let page = try await backend.books(offset: 0, limit: 1, newestFirst: false)
        return "\(Backend.displayName) answers; its library lists \(page.total) item(s)"
    }
}

/// A plugin whose `state` holds a library-backend driver.
public protocol LibraryBackendDriverProviding {
    var driver: any LibraryBackendDriver { get }
}

/// The C table of a Swift library backend.
enum LibraryBackendTable {
    static func table(kind: String, displayName: String) -> UnsafeMutablePointer<pp_library_backend> {
        lock.lock()
        defer { lock.unlock() }
        if let made { return made }
        let table = UnsafeMutablePointer<pp_library_backend>.allocate(capacity: 1)
        table.initialize(
            to: pp_library_backend(
                struct_size: UInt32(MemoryLayout<pp_library_backend>.size), reserved0: 0, kind: UnsafePointer(strdup(kind)!),
                display_name: UnsafePointer(strdup(displayName)!), books: books, scan: scan, test: test))
        made = table
        return table
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var made: UnsafeMutablePointer<pp_library_backend>?

    private static let books: @convention(c) (UnsafeMutableRawPointer?, OpaquePointer?, UnsafePointer<CChar>?) -> pp_driver_status = {
        state, call, pageJSON in
        let page = (pageJSON.map { String(cString: $0) }).flatMap { JSONValue(jsonText: $0) } ?? .object([:])
        let offset = Int(clamping: page["offset"]?.intValue ?? 0)
        let limit = Int(clamping: page["limit"]?.intValue ?? 100)
        let newestFirst = page["newest_first"]?.boolValue ?? false
        return run(state, call) { driver in
            guard offset >= 0, (1...10_000).contains(limit) else {
                throw PluginError.permanent("the page asks for offset \(offset) and limit \(limit): offset ≥ 0, limit 1 to 10000")
            }
            return try await driver.books(offset: offset, limit: limit, newestFirst: newestFirst).json
        }
    }

    private static let scan: @convention(c) (UnsafeMutableRawPointer?, OpaquePointer?, UnsafePointer<CChar>?) -> pp_driver_status = {
        state, call, path in
        let path = path.map { String(cString: $0) }
        return run(state, call) { driver in
            try await driver.requestScan(path: path)
            return .null
        }
    }

    private static let test: @convention(c) (UnsafeMutableRawPointer?, OpaquePointer?) -> pp_driver_status = { state, call in
        run(state, call) { driver in ["version": .string(try await driver.test())] }
    }

    private static func run(
        _ state: UnsafeMutableRawPointer?, _ call: OpaquePointer?,
        _ body: @escaping @Sendable (any LibraryBackendDriver) async throws -> JSONValue
    ) -> pp_driver_status {
        DriverCallBridge.run(
            state: state, call: call, driver: { ($0 as? any LibraryBackendDriverProviding)?.driver },
            classify: { error in
                let outcome = OutcomeMapping.outcome(for: error)
                return (outcome.kind == .fail ? PP_DRIVER_PERMANENT : PP_DRIVER_TRANSIENT, outcome.message ?? "\(error)")
            }, body)
    }
}
