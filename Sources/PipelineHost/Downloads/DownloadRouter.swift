import Foundation
import PipelineJSON

/// Routes the download jobs over pipeline.yaml's `download_clients`.
///
/// - A job whose payload names `client_instance` runs on that instance: a
///   download stays with the client that has it until it is done, whatever
///   `accept_new` now says.
/// - A new download (a payload with a `release`) goes to the first client in
///   the list that takes new work for the release's protocol; when none takes
///   the chosen release's protocol, the alternates' protocols are tried in
///   order, and the client skips the releases it cannot take.
/// - A job written before routing existed names only the client kind
///   (`"client": "qbittorrent"`): it goes to the first instance of a plugin
///   of that kind.
///
/// Every job a download job asks for, and its rescheduled payload, carries
/// `client_instance`; so does the `download` record of its request
/// transitions (download_history's `client_instance` column). The host
/// writes it, over whatever the plugin wrote.
public struct DownloadRouter: JobRouter {
    /// The payload and download-record member that names the instance.
    public static let instanceKey = "client_instance"

    public let clients: [DownloadClientRoute]
    /// The job types bound to `download_clients`.
    public let jobTypes: Set<String>
    /// Each instance's client kind: the last part of its plugin's id
    /// (`org.pipeline.download.qbittorrent` → `qbittorrent`).
    public let kinds: [String: String]

    public init(clients: [DownloadClientRoute], jobTypes: Set<String>, kinds: [String: String]) {
        self.clients = clients
        self.jobTypes = jobTypes
        self.kinds = kinds
    }

    /// The kind of a plugin of id `pluginID`.
    public static func kind(ofPluginID pluginID: String) -> String {
        String(pluginID.split(separator: ".").last ?? Substring(pluginID)).lowercased()
    }

    public var instances: [String] { clients.map(\.plugin) }

    /// The job types that run once on each torrent client when their payload
    /// names no instance: the seeding cleanup looks after every client.
    public static let eachClientJobTypes: Set<String> = ["cleanup_seeded_torrents"]

    public func route(jobType: String, payloadJSON: String) -> Result<JobRoute, JobRouteRefusal> {
        if Self.eachClientJobTypes.contains(jobType), let payload = RoutedPayload.object(payloadJSON), payload[Self.instanceKey] == nil {
            let torrentClients = clients.filter { $0.protocols.contains(.torrent) }.map(\.plugin)
            guard !torrentClients.isEmpty else {
                return .failure(JobRouteRefusal("download_clients lists no torrent client, so there is nothing to clean up"))
            }
            return .success(.each(torrentClients))
        }
        return instance(forJobType: jobType, payloadJSON: payloadJSON).map(JobRoute.instance)
    }

    /// The instance that runs a job of `jobType` with `payloadJSON`, or why none can.
    public func instance(forJobType jobType: String, payloadJSON: String) -> Result<String, JobRouteRefusal> {
        guard let payload = RoutedPayload.object(payloadJSON) else {
            return .failure(JobRouteRefusal("the payload is not a JSON object, so no download client can be chosen for it"))
        }
        if let named = payload[Self.instanceKey] {
            guard let name = named.stringValue else {
                return .failure(JobRouteRefusal("\(Self.instanceKey) must be a string naming a download_clients entry"))
            }
            guard clients.contains(where: { $0.plugin == name }) else {
                return .failure(JobRouteRefusal(
                    "this download is in client '\(name)', which download_clients no longer lists: list it again "
                        + "with accept_new: false until its downloads are done"))
            }
            return .success(name)
        }
        if payload["release"] != nil {
            return newDownload(payload)
        }
        if let kind = payload["client"]?.stringValue?.lowercased() {
            guard let client = clients.first(where: { kinds[$0.plugin] == kind }) else {
                return .failure(JobRouteRefusal(
                    "this download is in a \(kind) client, and download_clients lists none: add the \(kind) plugin "
                        + "to download_clients (accept_new: false) until its downloads are done"))
            }
            return .success(client.plugin)
        }
        return .failure(JobRouteRefusal(
            "the payload has neither a release nor a \(Self.instanceKey): a \(jobType) job needs one to find its download client"))
    }

    /// The first client that takes new work for the protocol of the chosen
    /// release, or failing that of an alternate.
    private func newDownload(_ payload: [String: JSONValue]) -> Result<String, JobRouteRefusal> {
        var releases: [JSONValue] = []
        if let release = payload["release"] { releases.append(release) }
        releases += payload["alternates"]?.arrayValue ?? []
        var protocols: [String] = []
        for release in releases {
            let name = release["protocol"]?.stringValue?.lowercased() ?? DownloadProtocol.torrent.rawValue
            if !protocols.contains(name) { protocols.append(name) }
        }
        for name in protocols {
            guard let wanted = DownloadProtocol(rawValue: name) else { continue }
            if let client = clients.first(where: { $0.acceptsNew && $0.protocols.contains(wanted) }) {
                return .success(client.plugin)
            }
        }
        let named = protocols.joined(separator: " or ")
        return .failure(JobRouteRefusal(
            "no download client takes new \(named) downloads: list one under download_clients with protocols: "
                + "[\(protocols.first ?? "torrent")] and accept_new: true"))
    }

    public func mark(payloadJSON: String, ofJobType jobType: String, for instance: String) -> String {
        jobTypes.contains(jobType) ? RoutedPayload.marking(payloadJSON, Self.instanceKey, with: instance) : payloadJSON
    }

    public func mark(transitionDetailsJSON: String?, for instance: String) -> String? {
        guard let detailsJSON = transitionDetailsJSON, var details = RoutedPayload.object(detailsJSON),
            case .object(var download)? = details["download"], download[Self.instanceKey]?.stringValue != instance
        else { return transitionDetailsJSON }
        download[Self.instanceKey] = .string(instance)
        details["download"] = .object(download)
        return RoutedPayload.text(details) ?? detailsJSON
    }
}
