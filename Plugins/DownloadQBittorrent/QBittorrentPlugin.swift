import DownloadClientKit
import Foundation
import PluginHTTP
import PluginKit

/// qBittorrent through its WebUI API v2 (tested against 4.5.2, API 2.8.19).
///
/// Sessions: the plugin logs in on first use and keeps the `SID` cookie; a
/// 403 (the cookie expired, or qBittorrent restarted and forgot it) logs in
/// again once and repeats the call. A refused login ("Fails.") is permanent:
/// the plugin does not try that password again until its configuration is
/// loaded anew, so it can never earn the address qBittorrent's ban after
/// repeated failures. An empty username skips login (qBittorrent's
/// "bypass authentication for clients on localhost" or a subnet whitelist).
struct QBittorrentClient: DownloadClient {
    static let pluginInfo = PluginInfo(
        id: "org.pipeline.download.qbittorrent",
        name: "qBittorrent download client",
        version: "1.0.0",
        jobTypes: [],
        description: "Adds releases to qBittorrent through its WebUI API v2 and monitors the downloads until they complete.")
    static let clientKind = "qbittorrent"
    static let displayName = "qBittorrent"

    let api: QBittorrentAPI

    init(settings: DownloadClientSettings, configuration: PluginConfiguration, host: PluginHost) throws {
        api = QBittorrentAPI(settings: settings)
    }

    func add(_ torrent: TorrentSource, options: AddOptions) async throws(DownloadClientError) -> String {
        let hash = torrent.infoHash
        // Already there (a rerun of the same job): nothing to add.
        if try await api.info(hash) != nil { return hash }
        var form = MultipartForm()
        switch torrent {
        case .metainfo(let data, _):
            form.add("torrents", fileName: "\(hash).torrent", contentType: "application/x-bittorrent", data: data)
        case .magnet(let link, _):
            form.add("urls", link)
        }
        if let category = options.category { form.add("category", category) }
        if !options.tags.isEmpty { form.add("tags", options.tags.joined(separator: ",")) }
        if let savePath = options.savePath {
            form.add("savepath", savePath)
            form.add("autoTMM", "false")
        }
        form.add("paused", "false")
        let response = try await api.call("torrents/add", multipart: form)
        switch (response.status, response.text.trimmingCharacters(in: .whitespacesAndNewlines)) {
        case (200, "Ok."):
            // qBittorrent adds in the background: wait until it lists the
            // torrent, so that what follows (a status, a remove) finds it.
            for _ in 0..<50 {
                if try await api.info(hash) != nil { return hash }
                try? await Task.sleep(for: .milliseconds(100))
            }
            throw .unexpected("qBittorrent accepted \(hash) but did not list it within 5 s")
        case (200, "Fails."):
            // qBittorrent says Fails. for a duplicate too, and a duplicate is
            // fine. One added a moment ago by another job (two requests for
            // one release) may not be listed yet: look for it a while.
            for _ in 0..<30 {
                if try await api.info(hash) != nil { return hash }
                try? await Task.sleep(for: .milliseconds(100))
            }
            throw .rejected("qBittorrent would not add the torrent (it answered Fails.)")
        case (415, _):
            throw .rejected("qBittorrent says this is not a valid torrent: \(response.excerpt)")
        default:
            throw .unexpected("qBittorrent answered \(response.status) to torrents/add: \(response.excerpt)")
        }
    }

    func status(of infoHash: String) async throws(DownloadClientError) -> DownloadStatus? {
        guard let torrent = try await api.info(infoHash) else { return nil }
        return torrent.status
    }

    func remove(_ infoHash: String, deletingData: Bool) async throws(DownloadClientError) {
        let response = try await api.call(
            "torrents/delete", form: [("hashes", infoHash), ("deleteFiles", deletingData ? "true" : "false")])
        guard response.status == 200 else {
            throw .unexpected("qBittorrent answered \(response.status) to torrents/delete: \(response.excerpt)")
        }
    }

    func testConnection() async throws(DownloadClientError) -> String {
        let response = try await api.call("app/version", method: "GET")
        guard response.status == 200 else {
            throw .unexpected("qBittorrent answered \(response.status) to app/version: \(response.excerpt)")
        }
        return response.text
    }
}

/// One torrent from `/api/v2/torrents/info`.
struct QBittorrentTorrent: Decodable {
    var hash: String
    var name: String
    var state: String
    var progress: Double
    var totalSize: Int64?
    var size: Int64?
    var dlspeed: Int64?
    var savePath: String?
    var contentPath: String?
    /// The incomplete-downloads folder of this torrent, empty when unused.
    var downloadPath: String?
    /// Uploaded over downloaded.
    var ratio: Double?
    /// Seconds spent seeding; absent from older versions.
    var seedingTime: Int64?

    enum CodingKeys: String, CodingKey {
        case hash, name, state, progress, size, dlspeed, ratio
        case totalSize = "total_size"
        case savePath = "save_path"
        case contentPath = "content_path"
        case downloadPath = "download_path"
        case seedingTime = "seeding_time"
    }

    /// qBittorrent's states (4.x and 5.x names) as the monitor's.
    static func state(_ state: String) -> DownloadStatus.State {
        switch state {
        case "metaDL", "forcedMetaDL": return .metadata
        case "downloading", "forcedDL", "allocating": return .downloading
        case "stalledDL": return .stalled
        case "moving": return .moving
        case "uploading", "stalledUP", "pausedUP", "stoppedUP", "queuedUP", "forcedUP": return .completed
        case "pausedDL", "stoppedDL": return .paused
        case "queuedDL": return .queued
        case "checkingDL", "checkingUP", "checkingResumeData": return .checking
        case "error", "missingFiles": return .failed
        default: return .downloading
        }
    }

    var status: DownloadStatus {
        let mapped = Self.state(state)
        // A magnet without metadata reports a size of -1 (or 0) and nothing left.
        let known = [totalSize, size].compactMap { $0 }.first { $0 > 0 }
        let content = contentPath.flatMap { $0.isEmpty ? nil : $0 } ?? savePath.map { $0 + "/" + name }
        return DownloadStatus(
            infoHash: hash.lowercased(), name: name, state: mapped, progress: progress, sizeBytes: known,
            downloadRate: dlspeed ?? 0, contentPath: mapped == .metadata ? nil : content, finalSavePath: savePath,
            temporaryPath: downloadPath.flatMap { $0.isEmpty ? nil : $0 },
            errorMessage: mapped == .failed
                ? (state == "missingFiles"
                    ? "missingFiles: the files are not where qBittorrent expects them (moved or deleted?)"
                    : "qBittorrent state \(state)")
                : nil,
            ratio: ratio, seedingSeconds: seedingTime)
    }
}

/// The WebUI API calls, with the login session.
actor QBittorrentAPI {
    private let base: URL
    private let username: String
    private let password: String
    private let http: HTTPClient
    private var sid: String?
    /// Set once qBittorrent refused the credentials: never sent again.
    private var refusal: String?

    init(settings: DownloadClientSettings) {
        base = settings.url
        username = settings.username
        password = settings.password
        http = HTTPClient(timeout: settings.requestTimeout, maximumBodyBytes: settings.maxResponseBytes)
    }

    func info(_ hash: String) async throws(DownloadClientError) -> QBittorrentTorrent? {
        let response = try await call("torrents/info?hashes=\(hash)", method: "GET")
        guard response.status == 200 else {
            throw .unexpected("qBittorrent answered \(response.status) to torrents/info: \(response.excerpt)")
        }
        let torrents: [QBittorrentTorrent]
        do {
            torrents = try JSONDecoder().decode([QBittorrentTorrent].self, from: response.body)
        } catch {
            throw .unexpected("qBittorrent's torrents/info answer is not the expected JSON: \(error)")
        }
        // Some look-alikes ignore the filter: take only the torrent asked for.
        return torrents.first { $0.hash.lowercased() == hash.lowercased() }
    }

    func call(_ path: String, form: [(String, String)]) async throws(DownloadClientError) -> HTTPResponse {
        try await call(path, method: "POST", body: Data(FormEncoding.encode(form).utf8), contentType: "application/x-www-form-urlencoded")
    }

    func call(_ path: String, multipart: MultipartForm) async throws(DownloadClientError) -> HTTPResponse {
        try await call(path, method: "POST", body: multipart.data, contentType: multipart.contentType)
    }

    /// Sends one API call, logging in first when needed and again once on a 403.
    func call(_ path: String, method: String, body: Data? = nil, contentType: String? = nil) async throws(DownloadClientError)
        -> HTTPResponse
    {
        if sid == nil { try await logIn() }
        let used = sid
        var response = try await send(path, method: method, body: body, contentType: contentType)
        if response.status == 403, !username.isEmpty {
            // The session is gone (expired, or qBittorrent restarted). Another
            // call may have logged in again meanwhile: then use its session.
            if sid == used { sid = nil }
            if sid == nil { try await logIn() }
            response = try await send(path, method: method, body: body, contentType: contentType)
        }
        if response.status == 403 {
            throw .authenticationFailed(
                "qBittorrent answered 403 Forbidden to \(path)"
                    + (username.isEmpty
                        ? ": it wants a login; set username and password in this plugin's config"
                        : " even after a fresh login"))
        }
        if (500..<600).contains(response.status) {
            throw .unreachable("qBittorrent answered \(response.status) to \(path): \(response.excerpt)")
        }
        return response
    }

    private func send(_ path: String, method: String, body: Data?, contentType: String?) async throws(DownloadClientError)
        -> HTTPResponse
    {
        guard let url = URL(string: base.absoluteString + "/api/v2/" + path) else {
            throw .unexpected("cannot build a URL from \(base) and \(path)")
        }
        var headers: [String: String] = [:]
        if let sid, !sid.isEmpty { headers["Cookie"] = "SID=\(sid)" }
        if let contentType { headers["Content-Type"] = contentType }
        do {
            return try await http.send(HTTPRequest(method: method, url: url, headers: headers, body: body))
        } catch {
            throw .unreachable("qBittorrent: \(error)")
        }
    }

    /// The login under way, which every call that needs a session awaits:
    /// calls run in parallel (the actor is reentrant), and parallel failed
    /// logins would count towards qBittorrent's ban.
    private var loginInFlight: Task<Result<Void, DownloadClientError>, Never>?

    private func logIn() async throws(DownloadClientError) {
        guard !username.isEmpty else { return }
        if let refusal { throw .authenticationFailed(refusal) }
        if let loginInFlight {
            try await loginInFlight.value.get()
            return
        }
        let attempt = Task { () -> Result<Void, DownloadClientError> in
            do throws(DownloadClientError) {
                try await self.sendLogin()
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        loginInFlight = attempt
        defer { loginInFlight = nil }
        try await attempt.value.get()
    }

    private func sendLogin() async throws(DownloadClientError) {
        let body = Data(FormEncoding.encode([("username", username), ("password", password)]).utf8)
        let response = try await send(
            "auth/login", method: "POST", body: body, contentType: "application/x-www-form-urlencoded")
        let text = response.text.trimmingCharacters(in: .whitespacesAndNewlines)
        switch response.status {
        case 200 where text == "Ok.":
            guard let cookie = response.cookie(named: "SID") else {
                // Authentication is off for this address: calls work without a cookie.
                sid = ""
                return
            }
            sid = cookie
        case 200:
            let message =
                "qBittorrent refused the login for user '\(username)' at \(base.absoluteString): fix username and password in "
                + "this plugin's config (plugins.<name>.config in pipeline.yaml) and reload; the plugin will not try "
                + "this password again, so qBittorrent never bans this address"
            refusal = message
            throw .authenticationFailed(message)
        case 403:
            throw .unreachable(
                "qBittorrent has banned this address after too many failed logins (\(response.excerpt)); it lifts the "
                    + "ban after WebUI\\BanDuration (an hour by default), or restart qBittorrent")
        default:
            throw .unexpected("qBittorrent answered \(response.status) to auth/login: \(response.excerpt)")
        }
    }
}
