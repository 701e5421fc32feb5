import DownloadClientKit
import Foundation
import PluginHTTP

/// Turns a release into something a client can add: its magnet link, or the
/// .torrent file its download URL serves (sent with the indexer's API key,
/// since Prowlarr's download links need it).
///
/// A download URL may answer with the .torrent, with a redirect to a magnet
/// link, or with a magnet link as its body; all three are handled. Other
/// redirects are followed up to five times.
///
/// The indexer's API key goes only to the configured indexer's origin
/// (scheme, host and port), never to a host a release's URL names; every
/// hop must be http or https; the body is read up to `maximumBytes`, decoded.
public struct ReleaseFetcher: Sendable {
    let http: HTTPClient
    let apiKey: String?
    /// `scheme://host:port` of the indexer that gets the key.
    let indexerOrigin: String?

    public init(timeout: Duration, apiKey: String?, indexerURL: URL?, maximumBytes: Int = 10 << 20) {
        http = HTTPClient(timeout: timeout, followsRedirects: false, maximumBodyBytes: maximumBytes)
        self.apiKey = apiKey
        indexerOrigin = indexerURL.map(Self.origin(of:))
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

    /// The torrent for `release`: what its download URL serves, else (no
    /// URL, or the URL failed in a way the indexer may not repeat) what its
    /// magnet URL gives. Prowlarr rewrites both into its own http links, the
    /// magnet one answering with a redirect to the `magnet:` URI; a plain
    /// `magnet:` URI is taken as it is.
    public func torrent(for release: Release) async throws(Failure) -> TorrentSource {
        let links = [release.downloadURL, release.magnetURL].compactMap { $0 }.filter { !$0.isEmpty }
        guard !links.isEmpty else {
            throw .unusable("release '\(release.title)' has neither a download URL nor a magnet link")
        }
        var lastFailure: Failure?
        for link in links {
            do {
                guard case .torrent(let source) = try await fetch(link, title: release.title, expecting: .torrent) else { continue }
                return source
            } catch .unauthorized(let message) {
                throw .unauthorized(message)
            } catch {
                // "Try again later" wins over "unusable": the release may still work.
                if case .unavailable = lastFailure {} else { lastFailure = error }
            }
        }
        throw lastFailure!
    }

    /// The NZB file a usenet release's download URL serves.
    public func nzb(for release: Release) async throws(Failure) -> Data {
        guard let link = release.downloadURL, !link.isEmpty else {
            throw .unusable("usenet release '\(release.title)' has no download URL")
        }
        guard case .nzb(let data) = try await fetch(link, title: release.title, expecting: .usenet) else {
            throw .unusable("usenet release '\(release.title)' links to a torrent, not an NZB")
        }
        return data
    }

    /// What a download URL served.
    enum Fetched {
        case torrent(TorrentSource)
        case nzb(Data)
    }

    private func fetch(_ text: String, title: String, expecting kind: ReleaseProtocol) async throws(Failure) -> Fetched {
        if text.lowercased().hasPrefix("magnet:") { return .torrent(try Self.magnetSource(text)) }
        guard let first = URL(string: text), ["http", "https"].contains(first.scheme?.lowercased() ?? "") else {
            let shown = URL(string: text)?.redactingSecrets ?? String(text.prefix(20)) + "…"
            throw .unusable("release '\(title)' has a download URL that is not http(s): \(shown.prefix(80))")
        }
        var url = first
        for _ in 0..<6 {
            var headers = [
                "User-Agent": "pipeline-host", "Accept": kind == .usenet ? "application/x-nzb, */*" : "application/x-bittorrent, */*",
            ]
            // The indexer's key goes to the configured indexer only: never to
            // a host a release names, nor to one the indexer redirects to.
            let atIndexer = indexerOrigin != nil && Self.origin(of: url) == indexerOrigin
            if let apiKey, atIndexer { headers["X-Api-Key"] = apiKey }
            let response: HTTPResponse
            do {
                response = try await http.send(HTTPRequest(url: url, headers: headers))
            } catch .tooLarge(let target, let limit) {
                throw .unusable("\(target) served more than \(limit) bytes for '\(title)', more than the max_torrent_bytes setting allows")
            } catch .unreachable(let target, let why) where why.contains("Content-Encoding") {
                throw .unusable("\(target) \(why)")
            } catch {
                throw .unavailable("fetching '\(title)': \(error)")
            }
            let shown = url.redactingSecrets
            switch response.status {
            case 200..<300:
                let body = response.body
                if kind == .usenet {
                    guard Self.isNZB(body) else {
                        throw .unusable("\(shown) did not serve an NZB file (no <nzb> element): \(response.excerpt.prefix(120))")
                    }
                    return .nzb(body)
                }
                if let magnet = Self.magnetBody(body) { return .torrent(try Self.magnetSource(magnet)) }
                do {
                    let metainfo = try TorrentMetainfo(body)
                    return .torrent(.metainfo(body, infoHash: metainfo.infoHash))
                } catch {
                    throw .unusable("\(shown) did not serve a .torrent file (\(error)): \(response.excerpt.prefix(120))")
                }
            case 300..<400:
                guard let location = response.header("Location") else {
                    throw .unusable("\(shown) answered \(response.status) without a Location")
                }
                if location.lowercased().hasPrefix("magnet:") { return .torrent(try Self.magnetSource(location)) }
                guard let next = URL(string: location, relativeTo: url)?.absoluteURL,
                    ["http", "https"].contains(next.scheme?.lowercased() ?? "")
                else {
                    throw .unusable("\(shown) redirected to something that is not an http(s) URL or a magnet link")
                }
                url = next
            case 401, 403:
                guard atIndexer else {
                    // Not the indexer (a tracker, its passkey expired; a host the
                    // release named): this release is unusable, another may not be.
                    throw .unusable("\(shown) answered \(response.status) for '\(title)'")
                }
                throw .unauthorized(
                    "the indexer refused the download of '\(title)' (\(response.status)) from \(shown): check "
                        + "indexer_api_key in this plugin's config (the Prowlarr API key)")
            case 408, 429, 500..<600:
                throw .unavailable("\(shown) answered \(response.status) for '\(title)'")
            default:
                throw .unusable("\(shown) answered \(response.status) for '\(title)'")
            }
        }
        throw .unusable("the download URL of '\(title)' redirected more than five times")
    }

    private static func origin(of url: URL) -> String {
        "\(url.scheme?.lowercased() ?? "")://\(url.host?.lowercased() ?? ""):\(url.port ?? (url.scheme == "https" ? 443 : 80))"
    }

    private static func magnetSource(_ magnet: String) throws(Failure) -> TorrentSource {
        guard magnet.utf8.count <= 64 << 10 else { throw .unusable("a magnet link longer than 64 KiB") }
        guard let hash = MagnetLink.infoHash(of: magnet) else {
            throw .unusable("a magnet link without a BitTorrent info hash: \(MagnetLink.redactingSecrets(magnet).prefix(120))")
        }
        return .magnet(magnet, infoHash: hash)
    }

    /// Whether `body` looks like an NZB file: an XML text with an `<nzb`
    /// element near its start (the client checks the rest).
    static func isNZB(_ body: Data) -> Bool {
        let head = String(decoding: body.prefix(4096), as: UTF8.self).lowercased()
        return head.contains("<nzb")
    }

    /// A body that is a magnet link (some indexers answer so).
    private static func magnetBody(_ body: Data) -> String? {
        guard body.count < 8192, body.starts(with: Array("magnet:".utf8)) else { return nil }
        return String(decoding: body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
