import Foundation
import Synchronization

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A small HTTP client for plugins, over URLSession (FoundationNetworking on
/// Linux), so that a plugin carries no networking stack of its own.
///
/// Each client has its own ephemeral session: no shared cookie store, no
/// cache, no credentials kept between plugins. Cookies are the caller's to
/// read and send (``HTTPResponse/cookie(named:)``). Every request has a
/// timeout, and cancelling the calling task cancels the request.
///
/// Every answer's body is read as it arrives and the request is stopped as
/// soon as the body passes its cap (``maximumBodyBytes``, or the request's
/// own ``HTTPRequest/maximumBodyBytes``). The cap counts the bytes after
/// decoding (URLSession inflates gzip and deflate as it reads), so a small
/// compressed answer that would inflate to gigabytes is stopped at the cap.
/// Every redirect is followed only to http or https.
public final class HTTPClient: Sendable {
    /// The largest body a request reads unless it sets its own cap: 32 MiB.
    public static let defaultMaximumBodyBytes = 32 << 20

    private let session: URLSession
    private let delegate: SessionDelegate
    /// How long one request may take, in all.
    public let timeout: Duration
    /// The largest body an answer may have, decoded, unless a request sets its own.
    public let maximumBodyBytes: Int

    /// - Parameters:
    ///   - timeout: how long one request may take before it fails with
    ///     ``HTTPClientError/timedOut(_:after:)``.
    ///   - followsRedirects: whether 3xx answers are followed; when false they
    ///     come back as they are (for a `Location` worth reading).
    ///   - maximumBodyBytes: the cap on a body, decoded; a larger one fails
    ///     with ``HTTPClientError/tooLarge(_:limit:)``.
    public init(timeout: Duration = .seconds(30), followsRedirects: Bool = true, maximumBodyBytes: Int = HTTPClient.defaultMaximumBodyBytes) {
        self.timeout = timeout
        self.maximumBodyBytes = max(1, maximumBodyBytes)
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpCookieStorage = nil
        configuration.httpShouldSetCookies = false
        configuration.urlCache = nil
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.urlCredentialStorage = nil
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        configuration.timeoutIntervalForRequest = seconds
        configuration.timeoutIntervalForResource = seconds
        delegate = SessionDelegate(followsRedirects: followsRedirects)
        session = URLSession(configuration: configuration, delegate: delegate, delegateQueue: nil)
    }

    deinit {
        session.finishTasksAndInvalidate()
    }

    /// Sends `request` and returns the answer, whatever its status.
    ///
    /// - Throws: ``HTTPClientError`` when no answer came: the server could
    ///   not be reached, took too long, the body passed its cap, or the task
    ///   was cancelled.
    public func send(_ request: HTTPRequest) async throws(HTTPClientError) -> HTTPResponse {
        let target = request.url.redactingSecrets
        guard ["http", "https"].contains(request.url.scheme?.lowercased() ?? "") else {
            throw .unreachable(target, "only http and https URLs are fetched")
        }
        var urlRequest = URLRequest(url: request.url)
        urlRequest.httpMethod = request.method
        // Uncompressed answers only: URLSession inflates a compressed body as
        // it reads, faster than any cap can stop it, so a small gzip answer
        // could still become gigabytes in memory. A server that compresses
        // anyway is refused before its body is read.
        urlRequest.setValue("identity", forHTTPHeaderField: "Accept-Encoding")
        for (name, value) in request.headers { urlRequest.setValue(value, forHTTPHeaderField: name) }
        urlRequest.httpBody = request.body
        let limit = request.maximumBodyBytes ?? maximumBodyBytes
        let task = session.dataTask(with: urlRequest)
        let outcome = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<SessionDelegate.Outcome, Never>) in
                delegate.register(task, limit: limit, continuation: continuation)
                task.resume()
            }
        } onCancel: {
            task.cancel()
        }
        switch outcome {
        case .answered(let http, let data):
            var headers: [String: String] = [:]
            for (name, value) in http.allHeaderFields {
                if let name = name as? String, let value = value as? String { headers[name.lowercased()] = value }
            }
            return HTTPResponse(status: http.statusCode, headers: headers, body: data, url: request.url)
        case .tooLarge:
            throw .tooLarge(target, limit: limit)
        case .compressed(let encoding):
            throw .unreachable(
                target, "it answered with Content-Encoding '\(encoding.prefix(40))' though asked for none; compressed answers are refused")
        case .badRedirect(let scheme):
            throw .unreachable(target, "it redirected to a \(scheme.prefix(20)): URL; only http and https are followed")
        case .failed(let error):
            switch (error as? URLError)?.code {
            case .cancelled? where !Task.isCancelled:
                // The server asked for credentials (401 with WWW-Authenticate):
                // the delegate declined, so that the caller sees the 401.
                return HTTPResponse(status: 401, headers: [:], body: Data("authentication required".utf8), url: request.url)
            case .cancelled?: throw .cancelled(target)
            case .timedOut?: throw .timedOut(target, after: timeout)
            case _ where Task.isCancelled: throw .cancelled(target)
            default: throw .unreachable(target, error.localizedDescription)
            }
        }
    }
}

/// Collects each task's answer as it arrives (stopping it at its cap),
/// decides redirects, and declines authentication challenges.
///
/// FoundationNetworking on Linux never hands a caller the 401 of a server that
/// asks for Basic credentials (it waits for a credential, and crashes when
/// given none): the challenge is cancelled instead, and ``HTTPClient`` turns
/// that into a 401 answer. Plugins send their credentials up front.
private final class SessionDelegate: NSObject, URLSessionDataDelegate, Sendable {
    enum Outcome: Sendable {
        case answered(HTTPURLResponse, Data)
        case tooLarge
        case compressed(String)
        case badRedirect(String)
        case failed(any Error)
    }

    private struct Pending {
        var limit: Int
        var body = Data()
        var response: HTTPURLResponse?
        var stopped: Outcome?
        var continuation: CheckedContinuation<Outcome, Never>
    }

    let followsRedirects: Bool
    private let pending = Mutex<[Int: Pending]>([:])

    init(followsRedirects: Bool) {
        self.followsRedirects = followsRedirects
    }

    func register(_ task: URLSessionTask, limit: Int, continuation: CheckedContinuation<Outcome, Never>) {
        pending.withLock { $0[task.taskIdentifier] = Pending(limit: limit, continuation: continuation) }
    }

    /// Stops `task` with `outcome` (reported when the task completes).
    private func stop(_ task: URLSessionTask, _ outcome: Outcome) {
        pending.withLock { $0[task.taskIdentifier]?.stopped = outcome }
        task.cancel()
    }

    func urlSession(
        _ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
        completionHandler: @escaping @Sendable (URLSession.ResponseDisposition) -> Void
    ) {
        let expected = response.expectedContentLength
        let http = response as? HTTPURLResponse
        let encoding = (http?.value(forHTTPHeaderField: "Content-Encoding") ?? "").trimmingCharacters(in: .whitespaces).lowercased()
        let refusal = pending.withLock { pending -> Outcome? in
            pending[dataTask.taskIdentifier]?.response = http
            guard let limit = pending[dataTask.taskIdentifier]?.limit else { return nil }
            if !encoding.isEmpty, encoding != "identity" { return .compressed(encoding) }
            return expected > Int64(limit) ? .tooLarge : nil
        }
        if let refusal {
            pending.withLock { $0[dataTask.taskIdentifier]?.stopped = refusal }
            completionHandler(.cancel)
        } else {
            completionHandler(.allow)
        }
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        let over = pending.withLock { pending -> Bool in
            guard var entry = pending[dataTask.taskIdentifier], entry.stopped == nil else { return false }
            guard entry.body.count + data.count <= entry.limit else { return true }
            entry.body.append(data)
            pending[dataTask.taskIdentifier] = entry
            return false
        }
        if over { stop(dataTask, .tooLarge) }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        guard let entry = pending.withLock({ $0.removeValue(forKey: task.taskIdentifier) }) else { return }
        let outcome: Outcome
        if let stopped = entry.stopped {
            outcome = stopped
        } else if let error {
            outcome = .failed(error)
        } else if let response = entry.response ?? (task.response as? HTTPURLResponse) {
            outcome = .answered(response, entry.body)
        } else {
            outcome = .failed(URLError(.badServerResponse))
        }
        entry.continuation.resume(returning: outcome)
    }

    func urlSession(
        _ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
        newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void
    ) {
        guard followsRedirects else { return completionHandler(nil) }
        let scheme = request.url?.scheme?.lowercased() ?? ""
        guard scheme == "http" || scheme == "https" else {
            stop(task, .badRedirect(scheme))
            return completionHandler(nil)
        }
        completionHandler(request)
    }

    func urlSession(
        _ session: URLSession, task: URLSessionTask, didReceive challenge: URLAuthenticationChallenge,
        completionHandler: @escaping @Sendable (URLSession.AuthChallengeDisposition, URLCredential?) -> Void
    ) {
        completionHandler(.cancelAuthenticationChallenge, nil)
    }
}

/// One HTTP request.
public struct HTTPRequest: Sendable {
    public var method: String
    public var url: URL
    public var headers: [String: String]
    public var body: Data?
    /// The largest answer body to read, decoded; nil: the client's cap.
    public var maximumBodyBytes: Int?

    public init(method: String = "GET", url: URL, headers: [String: String] = [:], body: Data? = nil, maximumBodyBytes: Int? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.maximumBodyBytes = maximumBodyBytes
    }

    /// A POST of `fields` as `application/x-www-form-urlencoded`.
    public static func form(_ url: URL, _ fields: [(String, String)], headers: [String: String] = [:]) -> HTTPRequest {
        var headers = headers
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return HTTPRequest(method: "POST", url: url, headers: headers, body: Data(FormEncoding.encode(fields).utf8))
    }

    /// A POST of `json` as `application/json`.
    public static func json(_ url: URL, _ json: Data, headers: [String: String] = [:]) -> HTTPRequest {
        var headers = headers
        headers["Content-Type"] = "application/json"
        return HTTPRequest(method: "POST", url: url, headers: headers, body: json)
    }
}

/// One HTTP answer.
public struct HTTPResponse: Sendable {
    public var status: Int
    /// Header names in lower case.
    public var headers: [String: String]
    public var body: Data
    /// The URL asked for.
    public var url: URL

    public init(status: Int, headers: [String: String], body: Data, url: URL) {
        self.status = status
        self.headers = headers
        self.body = body
        self.url = url
    }

    /// The header `name` (any case).
    public func header(_ name: String) -> String? { headers[name.lowercased()] }

    /// The body as UTF-8 text (invalid bytes replaced).
    public var text: String { String(decoding: body, as: UTF8.self) }

    /// The start of the body for an error message: printable text only
    /// (control and formatting characters become spaces, runs of space one),
    /// at most 200 characters.
    public var excerpt: String {
        let head = String(decoding: body.prefix(4096), as: UTF8.self)
        var printable = ""
        var lastWasSpace = true
        for scalar in head.unicodeScalars {
            let category = scalar.properties.generalCategory
            let isSpace = scalar.properties.isWhitespace || category == .control || category == .format
                || category == .unassigned || category == .privateUse || category == .surrogate || scalar == "\u{FFFD}"
            if isSpace {
                if !lastWasSpace { printable.append(" ") }
                lastWasSpace = true
            } else {
                printable.unicodeScalars.append(scalar)
                lastWasSpace = false
            }
            if printable.count > 200 { break }
        }
        let trimmed = printable.trimmingCharacters(in: .whitespaces)
        return trimmed.count > 200 ? String(trimmed.prefix(200)) + "…" : trimmed
    }

    /// Whether the status is 2xx.
    public var isSuccess: Bool { (200..<300).contains(status) }

    /// The value of cookie `name` from `Set-Cookie`, if the answer sets it.
    public func cookie(named name: String) -> String? {
        guard let header = header("Set-Cookie") else { return nil }
        // Several cookies may be folded into one header, separated by commas;
        // attributes follow each value after a semicolon.
        for part in header.split(separator: ",") {
            let pair = part.split(separator: ";", maxSplits: 1).first.map(String.init) ?? ""
            let fields = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if fields.count == 2, fields[0] == name { return fields[1] }
        }
        return nil
    }

    /// `Retry-After` in seconds, when the server sent one.
    public var retryAfter: Duration? {
        header("Retry-After").flatMap(Int.init).map { .seconds(min(max(0, $0), 86_400)) }
    }
}

/// Why no HTTP answer came. Each case names the URL, with secrets removed.
public enum HTTPClientError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The server could not be reached (refused, reset, no route, DNS).
    case unreachable(String, String)
    /// No answer within the client's timeout.
    case timedOut(String, after: Duration)
    /// The calling task was cancelled.
    case cancelled(String)
    /// The answer's body, decoded, was larger than `limit` bytes; reading stopped there.
    case tooLarge(String, limit: Int)

    public var description: String {
        switch self {
        case .unreachable(let url, let why): return "\(url) could not be reached: \(why)"
        case .timedOut(let url, let timeout): return "\(url) did not answer within \(timeout)"
        case .cancelled(let url): return "the request to \(url) was cancelled"
        case .tooLarge(let url, let limit):
            return "\(url) answered with a body larger than \(limit) bytes (decoded); reading stopped at that cap"
        }
    }
}

/// `application/x-www-form-urlencoded` bodies and query strings.
public enum FormEncoding {
    /// The characters left as they are: RFC 3986's unreserved set.
    private static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    public static func encode(_ fields: [(String, String)]) -> String {
        fields.map { escape($0.0) + "=" + escape($0.1) }.joined(separator: "&")
    }

    public static func escape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text
    }
}

extension URL {
    /// A server's base URL from a plugin setting (`http://127.0.0.1:9696/`):
    /// without a trailing slash, so paths append cleanly; nil unless it has a
    /// scheme and a host.
    public static func serverBase(_ setting: String) -> URL? {
        let text = setting.hasSuffix("/") ? String(setting.dropLast()) : setting
        guard let url = URL(string: text), url.scheme != nil, url.host != nil else { return nil }
        return url
    }

    /// The URL for logs and records: the values of query parameters that
    /// commonly hold secrets (`apikey`, `api_key`, `passkey`, `token`, …) and
    /// any user:password are replaced by `***`.
    public var redactingSecrets: String {
        guard var components = URLComponents(url: self, resolvingAgainstBaseURL: false) else { return absoluteString }
        if components.password != nil { components.password = "***" }
        if let items = components.queryItems {
            components.queryItems = items.map { item in
                let name = item.name.lowercased()
                let secret = ["apikey", "api_key", "passkey", "token", "key", "auth", "password", "pass", "sid"]
                    .contains { name == $0 || name.hasSuffix("_" + $0) }
                return secret && item.value != nil ? URLQueryItem(name: item.name, value: "***") : item
            }
        }
        return components.string ?? absoluteString
    }
}
