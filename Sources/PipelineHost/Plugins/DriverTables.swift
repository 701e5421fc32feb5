import DriverJobs
import Foundation
import PluginABI

/// The interfaces a plugin offers through `get_extension` (since ABI 1.3), as
/// `plugin inspect`, `validate` and the runner's answer describe them.
public struct PluginInterfaces: Sendable, Hashable, Codable {
    /// The download-client interface: the client's kind and the protocols it takes.
    public struct DownloadClient: Sendable, Hashable, Codable {
        public var kind: String
        public var displayName: String
        public var protocols: [String]
    }

    /// The library-backend interface: the backend's kind.
    public struct LibraryBackend: Sendable, Hashable, Codable {
        public var kind: String
        public var displayName: String
    }

    public var downloadClient: DownloadClient?
    public var libraryBackend: LibraryBackend?
    /// The job types the host runs over these interfaces (those the plugin
    /// does not handle itself).
    public var hostJobTypes: [String] = []

    public init() {}

    public var offersAny: Bool { downloadClient != nil || libraryBackend != nil }

    /// One line for people: "download client 'deluge' (torrent)".
    public var summary: String? {
        var parts: [String] = []
        if let client = downloadClient { parts.append("download client '\(client.kind)' (\(client.protocols.joined(separator: ", ")))") }
        if let backend = libraryBackend { parts.append("library backend '\(backend.kind)'") }
        return parts.isEmpty ? nil : parts.joined(separator: "; ")
    }
}

/// The host's zero-extended copies of a plugin's interface tables, checked
/// as the descriptor is: size rules, required functions, a valid kind.
struct DriverTables: @unchecked Sendable {
    var downloadClient: pp_download_client?
    var libraryBackend: pp_library_backend?
    var interfaces = PluginInterfaces()

    /// The job types the host runs over a download-client driver.
    static let downloadJobTypes = DownloadJobs.jobTypes
    static let libraryJobTypes = LibraryJobs.jobTypes

    static func read(
        _ getExtension: (@convention(c) (UnsafePointer<CChar>?) -> UnsafeRawPointer?)?,
        refuse: (PluginLoadError.Code, String, String) -> PluginLoadError
    ) throws(PluginLoadError) -> DriverTables {
        var tables = DriverTables()
        guard let getExtension else { return tables }
        if let raw = getExtension(PP_EXTENSION_DOWNLOAD_CLIENT) {
            var table = pp_download_client()
            try copy(raw, into: &table, name: "pp_download_client", minimum: Int(PP_DOWNLOAD_CLIENT_SIZE_MIN), refuse: refuse)
            for (field, present) in [
                ("add", table.add != nil), ("status", table.status != nil), ("remove", table.remove != nil), ("test", table.test != nil),
            ] where !present {
                throw refuse(.missingFunction, "its download-client table's function '\(field)' is NULL", "provide add, status, remove and test")
            }
            let kind = try readKind(table.kind, table: "download-client", refuse: refuse)
            let displayName = try readDisplayName(table.display_name, table: "download-client", refuse: refuse)
            let known = PP_PROTOCOL_TORRENT | PP_PROTOCOL_USENET
            guard table.protocols != 0, table.protocols & ~known == 0 else {
                throw refuse(
                    .badJobTypes, "its download-client table's protocols are \(table.protocols)",
                    "set protocols to PP_PROTOCOL_TORRENT, PP_PROTOCOL_USENET or both")
            }
            var protocols: [String] = []
            if table.protocols & PP_PROTOCOL_TORRENT != 0 { protocols.append("torrent") }
            if table.protocols & PP_PROTOCOL_USENET != 0 { protocols.append("usenet") }
            tables.downloadClient = table
            tables.interfaces.downloadClient = PluginInterfaces.DownloadClient(kind: kind, displayName: displayName, protocols: protocols)
            tables.interfaces.hostJobTypes += downloadJobTypes
        }
        if let raw = getExtension(PP_EXTENSION_LIBRARY_BACKEND) {
            var table = pp_library_backend()
            try copy(raw, into: &table, name: "pp_library_backend", minimum: Int(PP_LIBRARY_BACKEND_SIZE_MIN), refuse: refuse)
            for (field, present) in [("books", table.books != nil), ("scan", table.scan != nil), ("test", table.test != nil)] where !present {
                throw refuse(.missingFunction, "its library-backend table's function '\(field)' is NULL", "provide books, scan and test")
            }
            let kind = try readKind(table.kind, table: "library-backend", refuse: refuse)
            let displayName = try readDisplayName(table.display_name, table: "library-backend", refuse: refuse)
            tables.libraryBackend = table
            tables.interfaces.libraryBackend = PluginInterfaces.LibraryBackend(kind: kind, displayName: displayName)
            tables.interfaces.hostJobTypes += libraryJobTypes
        }
        return tables
    }

    /// Copies a table under the ABI's size rules: at least `minimum` bytes;
    /// bytes past the host's own size must be zero.
    private static func copy<Table>(
        _ raw: UnsafeRawPointer, into table: inout Table, name: String, minimum: Int,
        refuse: (PluginLoadError.Code, String, String) -> PluginLoadError
    ) throws(PluginLoadError) {
        let size = Int(raw.load(as: UInt32.self))
        let known = MemoryLayout<Table>.size
        guard size >= minimum, size <= 64 * 1024 else {
            throw refuse(.badStructSize, "its \(name) table's struct_size is \(size) bytes (at least \(minimum))", "set struct_size = sizeof(\(name))")
        }
        if size > known, let offset = (known..<size).first(where: { raw.load(fromByteOffset: $0, as: UInt8.self) != 0 }) {
            throw refuse(
                .unknownTrailingFields,
                "its \(name) table is \(size) bytes, larger than the \(known) this host knows, and byte \(offset) is not zero",
                "upgrade pipeline-host, or leave the fields this host does not know zero")
        }
        withUnsafeMutableBytes(of: &table) { target in
            target.copyMemory(from: UnsafeRawBufferPointer(start: raw, count: min(size, known)))
        }
    }

    private static func readDisplayName(
        _ pointer: UnsafePointer<CChar>?, table: String, refuse: (PluginLoadError.Code, String, String) -> PluginLoadError
    ) throws(PluginLoadError) -> String {
        guard let pointer, let name = String(validatingCString: pointer),
            !name.trimmingCharacters(in: .whitespaces).isEmpty, name.count <= 100, !name.contains(where: \.isNewline)
        else {
            throw refuse(
                .missingField, "its \(table) table's 'display_name' is missing, empty or longer than 100 characters",
                "set display_name to the service's name for people, such as \"Deluge\"")
        }
        return name
    }

    private static func readKind(
        _ pointer: UnsafePointer<CChar>?, table: String, refuse: (PluginLoadError.Code, String, String) -> PluginLoadError
    ) throws(PluginLoadError) -> String {
        guard let pointer, let kind = String(validatingCString: pointer), !kind.isEmpty, kind.count <= 64,
            ConfigurationLoader.isValidName(kind, allowDots: false)
        else {
            throw refuse(.missingField, "its \(table) table's 'kind' is missing or not a name", "set kind to a short name such as \"deluge\"")
        }
        return kind
    }
}
