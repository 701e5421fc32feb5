import Foundation
import PluginABI
import PluginKit

/// The plugin of a Swift download client: the ABI's download-client
/// interface (`PP_EXTENSION_DOWNLOAD_CLIENT`) over any ``DownloadClient``.
/// The host runs `download_torrent` and `monitor_download` over it.
///
/// Export it from the client's library:
///
/// ```swift
/// @c public func pipeline_plugin_entry_v1(_ major: UInt32, _ minor: UInt32)
///     -> UnsafePointer<pp_plugin_descriptor>?
/// {
///     PluginExport.descriptor(for: DownloadClientPlugin<DelugeClient>.self, hostMajor: major, hostMinor: minor)
/// }
/// ```
public struct DownloadClientPlugin<Client: DownloadClient>: PipelinePlugin, DownloadClientDriverProviding {
    public static var info: PluginInfo {
        var info = Client.pluginInfo
        info.jobTypes = []
        return info
    }

    public static var extensionTables: [PluginExtensionTable] {
        [PluginExtensionTable(id: PP_EXTENSION_DOWNLOAD_CLIENT, table: UnsafeRawPointer(DownloadClientTable.table(kind: Client.clientKind, displayName: Client.displayName)))]
    }

    public let driver: any DownloadClientDriver

    public init(configuration: PluginConfiguration, host: PluginHost) throws {
        let settings = try configuration.decode(DownloadClientSettings.self)
        driver = SwiftClientDriver(client: try Client(settings: settings, configuration: configuration, host: host), url: settings.url)
    }

    /// The interface is the whole plugin: a job reaching `execute` is a host bug.
    public func execute(_ job: Job, context: JobContext) async throws -> JobOutcome {
        .fail("\(Client.displayName) is a download-client driver: the host runs '\(job.type)' over it")
    }

    /// `pipeline-host validate --probe`: the client answers and takes the credentials.
    public func check(context: JobContext) async throws {
        do {
            let version = try await driver.testConnection()
            context.log(.info, "\(Client.displayName) \(version) answers")
        } catch {
            throw PluginError.permanent("\(Client.displayName): \(error)")
        }
    }
}

/// A ``DownloadClient`` as a ``DownloadClientDriver``.
struct SwiftClientDriver<Client: DownloadClient>: DownloadClientDriver {
    let client: Client
    let url: URL

    var kind: String { Client.clientKind }
    var displayName: String { Client.displayName }
    var protocols: Set<ReleaseProtocol> { [.torrent] }

    func add(_ item: DownloadItem) async throws(DownloadClientError) -> String {
        let torrent: TorrentSource
        switch item.source {
        case .torrentFile(let data):
            guard let hash = item.infoHash else { throw .rejected("the torrent came without its info hash") }
            torrent = .metainfo(data, infoHash: hash)
        case .magnet(let link):
            guard let hash = item.infoHash else { throw .rejected("the magnet came without its info hash") }
            torrent = .magnet(link, infoHash: hash)
        case .nzbFile:
            throw .rejected("\(Client.displayName) takes torrents, not NZB files")
        }
        return try await client.add(torrent, options: item.options)
    }

    func status(of id: String) async throws(DownloadClientError) -> DownloadStatus? {
        try await client.status(of: id)
    }

    func remove(_ id: String, deletingData: Bool) async throws(DownloadClientError) {
        try await client.remove(id, deletingData: deletingData)
    }

    func testConnection() async throws(DownloadClientError) -> String {
        try await client.testConnection()
    }
}

/// A plugin whose `state` holds a download-client driver.
public protocol DownloadClientDriverProviding {
    var driver: any DownloadClientDriver { get }
}

/// The C table of a Swift download client: each function finds the plugin
/// behind `state`, runs the call on the worker thread and answers through
/// the host's services.
enum DownloadClientTable {
    /// The table, made once: a library holds one client type, and the
    /// table lives as long as the process, as the ABI asks.
    static func table(kind: String, displayName: String) -> UnsafeMutablePointer<pp_download_client> {
        lock.lock()
        defer { lock.unlock() }
        if let made { return made }
        let table = UnsafeMutablePointer<pp_download_client>.allocate(capacity: 1)
        table.initialize(
            to: pp_download_client(
                struct_size: UInt32(MemoryLayout<pp_download_client>.size), protocols: PP_PROTOCOL_TORRENT,
                kind: UnsafePointer(strdup(kind)!), display_name: UnsafePointer(strdup(displayName)!), add: add, status: status, remove: remove, test: test))
        made = table
        return table
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var made: UnsafeMutablePointer<pp_download_client>?

    private static let add: @convention(c) (UnsafeMutableRawPointer?, OpaquePointer?, UnsafePointer<CChar>?) -> pp_driver_status = {
        state, call, itemJSON in
        let text = itemJSON.map { String(cString: $0) } ?? ""
        return run(state, call) { driver throws(DownloadClientError) in
            guard let value = try? JSONCoding.decode(JSONValue.self, from: text), let item = DownloadItem(json: value) else {
                throw .rejected("the item to add is not a download item: \(text.prefix(120))")
            }
            return ["id": .string(try await driver.add(item))]
        }
    }

    private static let status: @convention(c) (UnsafeMutableRawPointer?, OpaquePointer?, UnsafePointer<CChar>?) -> pp_driver_status = {
        state, call, id in
        let id = id.map { String(cString: $0) } ?? ""
        return run(state, call) { driver throws(DownloadClientError) in
            try await driver.status(of: id)?.json ?? .null
        }
    }

    private static let remove:
        @convention(c) (UnsafeMutableRawPointer?, OpaquePointer?, UnsafePointer<CChar>?, UInt32) -> pp_driver_status = {
            state, call, id, deleteData in
            let id = id.map { String(cString: $0) } ?? ""
            return run(state, call) { driver throws(DownloadClientError) in
                try await driver.remove(id, deletingData: deleteData != 0)
                return .null
            }
        }

    private static let test: @convention(c) (UnsafeMutableRawPointer?, OpaquePointer?) -> pp_driver_status = { state, call in
        run(state, call) { driver throws(DownloadClientError) in
            ["version": .string(try await driver.testConnection())]
        }
    }

    private static func run(
        _ state: UnsafeMutableRawPointer?, _ call: OpaquePointer?,
        _ body: @escaping @Sendable (any DownloadClientDriver) async throws(DownloadClientError) -> JSONValue
    ) -> pp_driver_status {
        DriverCallBridge.run(
            state: state, call: call, driver: { ($0 as? any DownloadClientDriverProviding)?.driver },
            classify: { error in
                let clientError = error as? DownloadClientError ?? .unexpected("\(error)")
                return (clientError.driverStatus, clientError.description)
            },
            { driver in try await body(driver) })
    }
}

extension DownloadClientError {
    /// The ABI's status for this error.
    public var driverStatus: pp_driver_status {
        switch self {
        case .authenticationFailed: return PP_DRIVER_PERMANENT
        case .rejected: return PP_DRIVER_REJECTED
        case .unreachable, .unexpected: return PP_DRIVER_TRANSIENT
        }
    }

    /// The error a driver's status and message stand for.
    public init(driverStatus: pp_driver_status, message: String) {
        switch driverStatus {
        case PP_DRIVER_PERMANENT: self = .authenticationFailed(message)
        case PP_DRIVER_REJECTED: self = .rejected(message)
        default: self = .unreachable(message)
        }
    }
}
