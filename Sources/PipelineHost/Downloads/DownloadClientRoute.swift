/// The protocols a download client takes, as releases name them.
public enum DownloadProtocol: String, Sendable, CaseIterable, Codable {
    case torrent
    case usenet
}

/// One entry of pipeline.yaml's `download_clients` list: a plugin instance
/// that runs download jobs, the protocols it takes, and whether it takes new
/// downloads.
///
/// The list is in priority order: a new download goes to the first entry
/// that takes new work for its release's protocol; every later job of that
/// download goes to the entry that took it (docs/configuration.md,
/// "Download clients").
public struct DownloadClientRoute: Sendable, Equatable {
    /// The name of the list, as a job type's `plugin:` writes it to be routed over it.
    public static let listName = "download_clients"

    /// The `plugins` entry: the instance's name.
    public var plugin: String
    /// The protocols it takes (`[torrent]` unless written).
    public var protocols: [DownloadProtocol]
    /// False lets it finish the downloads it has and take no new one.
    public var acceptsNew: Bool
    /// Where the entry is written.
    public var location: SourceLocation
    /// Whether pipeline.yaml writes `protocols` (else the default applies).
    public var protocolsWritten = false

    public init(
        plugin: String, protocols: [DownloadProtocol] = [.torrent], acceptsNew: Bool = true,
        location: SourceLocation = SourceLocation(line: 0, column: 0)
    ) {
        self.plugin = plugin
        self.protocols = protocols
        self.acceptsNew = acceptsNew
        self.location = location
    }

    public static func == (lhs: DownloadClientRoute, rhs: DownloadClientRoute) -> Bool {
        lhs.plugin == rhs.plugin && lhs.protocols == rhs.protocols && lhs.acceptsNew == rhs.acceptsNew
    }
}
