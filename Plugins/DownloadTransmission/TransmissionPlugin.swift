import CheckedArithmetic
import DownloadClientKit
import Foundation
import PluginHTTP
import PluginKit

/// Transmission through its JSON RPC (tested against 3.00, RPC version 16).
///
/// Every call does the `X-Transmission-Session-Id` handshake when
/// Transmission answers 409 (on first use, and again after it restarted),
/// and sends Basic credentials when a username is set. A 401 is permanent
/// until the configuration is loaded anew, and the credentials are not sent
/// again (Transmission locks RPC after many failures). Torrents are
/// addressed by info hash, never by Transmission's per-session ids. Tracker
/// warnings and errors (`error` 1 and 2) are not download errors: only a
/// local error (3) fails the download.
struct TransmissionClient: DownloadClient {
    static let pluginInfo = PluginInfo(
        id: "org.pipeline.download.transmission",
        name: "Transmission download client",
        version: "1.0.0",
        jobTypes: [],
        description: "Adds releases to Transmission through its RPC and monitors the downloads until they complete.")
    static let clientKind = "transmission"
    static let displayName = "Transmission"

    let rpc: TransmissionRPC
    let host: PluginHost

    init(settings: DownloadClientSettings, configuration: PluginConfiguration, host: PluginHost) throws {
        rpc = TransmissionRPC(settings: settings)
        self.host = host
    }

    func add(_ torrent: TorrentSource, options: AddOptions) async throws(DownloadClientError) -> String {
        var arguments: [String: JSONValue] = ["paused": false]
        switch torrent {
        case .metainfo(let data, _): arguments["metainfo"] = .string(data.base64EncodedString())
        case .magnet(let link, _): arguments["filename"] = .string(link)
        }
        if let savePath = options.savePath { arguments["download-dir"] = .string(savePath) }
        let answer: JSONValue
        do {
            answer = try await rpc.call("torrent-add", .object(arguments))
        } catch .rejected(let message) {
            throw .rejected("Transmission would not add the torrent (\(message))")
        }
        let added = answer["torrent-added"] ?? answer["torrent-duplicate"]
        let hash = added?["hashString"]?.stringValue?.lowercased() ?? torrent.infoHash
        let labels = ([options.category].compactMap { $0 } + options.tags).filter { !$0.isEmpty }
        if !labels.isEmpty {
            // RPC 16 takes labels only through torrent-set. The torrent is in
            // by now: a refused label is worth a warning, not the release.
            do {
                _ = try await rpc.call(
                    "torrent-set", ["ids": [.string(hash)], "labels": .array(labels.map { .string($0) })])
            } catch .rejected(let message) {
                host.log(.warn, "Transmission took the torrent \(hash) but not its labels \(labels): \(message)")
            }
        }
        return hash
    }

    func status(of infoHash: String) async throws(DownloadClientError) -> DownloadStatus? {
        let answer = try await rpc.call(
            "torrent-get",
            [
                "ids": [.string(infoHash)],
                "fields": [
                    "hashString", "name", "status", "percentDone", "sizeWhenDone", "totalSize", "rateDownload", "downloadDir",
                    "error", "errorString", "metadataPercentComplete", "uploadRatio", "secondsSeeding",
                ],
            ])
        guard let torrents = answer["torrents"]?.arrayValue else {
            throw .unexpected("Transmission's torrent-get answer has no torrents list")
        }
        guard let torrent = torrents.first(where: { $0["hashString"]?.stringValue?.lowercased() == infoHash.lowercased() })
        else { return nil }
        return Self.status(torrent, hash: infoHash)
    }

    static func status(_ torrent: JSONValue, hash: String) -> DownloadStatus {
        func int(_ key: String) -> Int64? { torrent[key]?.doubleValue.flatMap { $0.isNaN ? nil : Int64(saturating: $0) } }
        func double(_ key: String) -> Double? { torrent[key]?.doubleValue }
        let name = torrent["name"]?.stringValue ?? hash
        let error = int("error") ?? 0
        let metadata = double("metadataPercentComplete") ?? 1
        let size = int("sizeWhenDone").flatMap { $0 > 0 ? $0 : nil }
        let progress = double("percentDone") ?? 0
        var state: DownloadStatus.State
        switch int("status") ?? 0 {
        case 0: state = progress >= 1 && size != nil ? .completed : .paused
        case 1, 2: state = .checking
        case 3: state = .queued
        case 4: state = .downloading
        default: state = .completed
        }
        if metadata < 1 { state = .metadata }
        // 1 and 2 are tracker warnings and errors: the download goes on.
        if error == 3 { state = .failed }
        let directory = torrent["downloadDir"]?.stringValue
        return DownloadStatus(
            infoHash: hash.lowercased(), name: name, state: state, progress: progress, sizeBytes: metadata < 1 ? nil : size,
            downloadRate: int("rateDownload") ?? 0,
            contentPath: metadata < 1 ? nil : directory.map { $0 + "/" + name },
            errorMessage: error == 3 ? torrent["errorString"]?.stringValue.map { "local error: \($0)" } : nil,
            // uploadRatio -1 (not available) and -2 (infinite) become nil.
            ratio: double("uploadRatio"), seedingSeconds: int("secondsSeeding"))
    }

    func remove(_ infoHash: String, deletingData: Bool) async throws(DownloadClientError) {
        _ = try await rpc.call("torrent-remove", ["ids": [.string(infoHash)], "delete-local-data": .bool(deletingData)])
    }

    func testConnection() async throws(DownloadClientError) -> String {
        let answer = try await rpc.call("session-get", ["fields": ["version", "rpc-version"]])
        let rpcVersion = answer["rpc-version"]?.intValue.map(String.init) ?? "?"
        return answer["version"]?.stringValue.map { "\($0) (RPC \(rpcVersion))" } ?? "unknown version"
    }
}

/// Transmission's RPC endpoint, with the session id handshake.
actor TransmissionRPC {
    private let endpoint: URL
    private let authorization: String?
    private let username: String
    private let http: HTTPClient
    private var sessionID: String?
    private var refusal: String?
    private var tag = 0

    init(settings: DownloadClientSettings) {
        let base = settings.url.absoluteString
        endpoint = URL(string: base.hasSuffix("/transmission/rpc") ? base : base + "/transmission/rpc")!
        username = settings.username
        authorization =
            settings.username.isEmpty
            ? nil : "Basic " + Data("\(settings.username):\(settings.password)".utf8).base64EncodedString()
        http = HTTPClient(timeout: settings.requestTimeout, maximumBodyBytes: settings.maxResponseBytes)
    }

    /// Calls `method` and returns its `arguments`.
    ///
    /// - Throws: ``DownloadClientError/rejected(_:)`` with Transmission's
    ///   words when its `result` is not `success`.
    func call(_ method: String, _ arguments: JSONValue) async throws(DownloadClientError) -> JSONValue {
        if let refusal { throw .authenticationFailed(refusal) }
        tag += 1
        let body: Data
        do {
            let call: JSONValue = ["method": .string(method), "arguments": arguments, "tag": .int(Int64(tag))]
            body = try JSONEncoder().encode(call)
        } catch {
            throw .unexpected("could not encode the \(method) call: \(error)")
        }
        for _ in 0..<3 {
            var headers = ["Content-Type": "application/json"]
            if let sessionID { headers["X-Transmission-Session-Id"] = sessionID }
            if let authorization { headers["Authorization"] = authorization }
            let response: HTTPResponse
            do {
                response = try await http.send(HTTPRequest(method: "POST", url: endpoint, headers: headers, body: body))
            } catch {
                throw .unreachable("Transmission: \(error)")
            }
            switch response.status {
            case 409:
                // A new or changed session: take its id and send again.
                guard let id = response.header("X-Transmission-Session-Id") else {
                    throw .unexpected("Transmission answered 409 without a session id")
                }
                sessionID = id
                continue
            case 401:
                let message =
                    "Transmission refused the credentials" + (username.isEmpty ? " (none were sent)" : " of user '\(username)'")
                    + " at \(endpoint.absoluteString): fix username and password in this plugin's config "
                    + "(plugins.<name>.config in pipeline.yaml) and reload"
                refusal = message
                throw .authenticationFailed(message)
            case 403:
                throw .authenticationFailed(
                    "Transmission answered 403 at \(endpoint.absoluteString): add this host's address to its "
                        + "rpc-whitelist (\(response.excerpt))")
            case 200:
                guard let object = try? JSONDecoder().decode(JSONValue.self, from: response.body) else {
                    throw .unexpected("Transmission's answer to \(method) is not JSON: \(response.excerpt)")
                }
                guard let result = object["result"]?.stringValue else {
                    throw .unexpected("Transmission's answer to \(method) has no result")
                }
                guard result == "success" else { throw .rejected("\(method): \(result)") }
                return object["arguments"] ?? [:]
            case 500..<600:
                throw .unreachable("Transmission answered \(response.status) to \(method): \(response.excerpt)")
            default:
                throw .unexpected("Transmission answered \(response.status) to \(method): \(response.excerpt)")
            }
        }
        throw .unexpected("Transmission kept answering 409 (session id) to \(method)")
    }
}
