import Foundation
import PluginHTTP

/// Turns a release into something a client can add: its magnet link, or the
/// .torrent file its download URL serves (sent with the indexer's API key,
/// since Prowlarr's download links need it).
///
/// A download URL may answer with the .torrent, with a redirect to a magnet
/// link, or with a magnet link as its body; all three are handled. Other
/// redirects are followed up to five times.
public struct ReleaseFetcher: Sendable {
    let http: HTTPClient
    let apiKey: String?

    public init(timeout: Duration, apiKey: String?) {
        http = HTTPClient(timeout: timeout, followsRedirects: false)
        self.apiKey = apiKey
    }

    /// Why a release could not be fetched.
    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// The indexer may answer later (429, 5xx, unreachable): try the next release now, this one again later.
        case unavailable(String)
        /// The indexer refused the API key (401, 403): no release of it will work.
        case unauthorized(String)
        /// This release is gone or broken (404, not a torrent): try the next one.
        case unusable(String)

        public var description: String {
            switch self {
            case .unavailable(let message), .unauthorized(let message), .unusable(let message): return message
            }
        }
    }

    /// The torrent for `release`: its magnet link when it has one, else what
    /// its download URL serves.
    public func torrent(for release: Release) async throws(Failure) -> TorrentSource {
        if let magnet = release.magnetURL, !magnet.isEmpty, release.downloadURL?.isEmpty ?? true {
            return try Self.magnetSource(magnet)
        }
        guard let text = release.downloadURL, !text.isEmpty else {
            if let magnet = release.magnetURL, !magnet.isEmpty { return try Self.magnetSource(magnet) }
            throw .unusable("release '\(release.title)' has neither a download URL nor a magnet link")
        }
        if text.lowercased().hasPrefix("magnet:") { return try Self.magnetSource(text) }
        guard var url = URL(string: text), ["http", "https"].contains(url.scheme?.lowercased() ?? "") else {
            throw .unusable("release '\(release.title)' has a download URL that is not http(s): \(text.prefix(80))")
        }
        for _ in 0..<6 {
            var headers = ["User-Agent": "pipeline-host", "Accept": "application/x-bittorrent, */*"]
            if let apiKey { headers["X-Api-Key"] = apiKey }
            let response: HTTPResponse
            do {
                response = try await http.send(HTTPRequest(url: url, headers: headers))
            } catch {
                throw .unavailable("fetching '\(release.title)': \(error)")
            }
            let shown = url.redactingSecrets
            switch response.status {
            case 200..<300:
                let body = response.body
                if let magnet = Self.magnetBody(body) { return try Self.magnetSource(magnet) }
                do {
                    let metainfo = try TorrentMetainfo(body)
                    return .metainfo(body, infoHash: metainfo.infoHash)
                } catch {
                    throw .unusable("\(shown) did not serve a .torrent file (\(error)): \(response.excerpt.prefix(80))")
                }
            case 300..<400:
                guard let location = response.header("Location") else {
                    throw .unusable("\(shown) answered \(response.status) without a Location")
                }
                if location.lowercased().hasPrefix("magnet:") { return try Self.magnetSource(location) }
                guard let next = URL(string: location, relativeTo: url)?.absoluteURL else {
                    throw .unusable("\(shown) redirected to something that is not a URL")
                }
                url = next
            case 401, 403:
                throw .unauthorized(
                    "the indexer refused the download of '\(release.title)' (\(response.status)) from \(shown): check "
                        + "indexer_api_key in this plugin's config (the Prowlarr API key)")
            case 408, 429, 500..<600:
                throw .unavailable("\(shown) answered \(response.status) for '\(release.title)'")
            default:
                throw .unusable("\(shown) answered \(response.status) for '\(release.title)'")
            }
        }
        throw .unusable("the download URL of '\(release.title)' redirected more than five times")
    }

    private static func magnetSource(_ magnet: String) throws(Failure) -> TorrentSource {
        guard let hash = MagnetLink.infoHash(of: magnet) else {
            throw .unusable("a magnet link without a BitTorrent info hash: \(magnet.prefix(80))")
        }
        return .magnet(magnet, infoHash: hash)
    }

    /// A body that is a magnet link (some indexers answer so).
    private static func magnetBody(_ body: Data) -> String? {
        guard body.count < 8192, body.starts(with: Array("magnet:".utf8)) else { return nil }
        return String(decoding: body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
