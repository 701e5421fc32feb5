import Foundation

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
public final class HTTPClient: Sendable {
    private let session: URLSession
    /// How long one request may take, in all.
    public let timeout: Duration

    /// - Parameters:
    ///   - timeout: how long one request may take before it fails with
    ///     ``HTTPClientError/timedOut(_:after:)``.
    ///   - followsRedirects: whether 3xx answers are followed; when false they
    ///     come back as they are (for a `Location` worth reading).
    public init(timeout: Duration = .seconds(30), followsRedirects: Bool = true) {
        self.timeout = timeout
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpCookieStorage = nil
        configuration.httpShouldSetCookies = false
        configuration.urlCache = nil
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.urlCredentialStorage = nil
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        configuration.timeoutIntervalForRequest = seconds
        configuration.timeoutIntervalForResource = seconds
        session = URLSession(
            configuration: configuration, delegate: SessionDelegate(followsRedirects: followsRedirects), delegateQueue: nil)
    }

    deinit {
        session.finishTasksAndInvalidate()
    }

    /// Sends `request` and returns the answer, whatever its status.
    ///
    /// - Throws: ``HTTPClientError`` when no answer came: the server could
    ///   not be reached, took too long, or the task was cancelled.
    public func send(_ request: HTTPRequest) async throws(HTTPClientError) -> HTTPResponse {
        var urlRequest = URLRequest(url: request.url)
        urlRequest.httpMethod = request.method
        for (name, value) in request.headers { urlRequest.setValue(value, forHTTPHeaderField: name) }
        urlRequest.httpBody = request.body
        let target = request.url.redactingSecrets
        do {
            let (data, response) = try await session.data(for: urlRequest)
            guard let http = response as? HTTPURLResponse else {
                throw HTTPClientError.unreachable(target, "the answer was not HTTP")
            }
            var headers: [String: String] = [:]
            for (name, value) in http.allHeaderFields {
                if let name = name as? String, let value = value as? String { headers[name.lowercased()] = value }
            }
            return HTTPResponse(status: http.statusCode, headers: headers, body: data, url: request.url)
        } catch let error as HTTPClientError {
            throw error
        } catch let error as URLError {
            switch error.code {
            case .cancelled where !Task.isCancelled:
                // The server asked for credentials (401 with WWW-Authenticate):
                // the delegate declined, so that the caller sees the 401.
                return HTTPResponse(
                    status: 401, headers: [:], body: Data("authentication required".utf8), url: request.url)
            case .cancelled: throw .cancelled(target)
            case .timedOut: throw .timedOut(target, after: timeout)
            default: throw .unreachable(target, error.localizedDescription)
            }
        } catch is CancellationError {
            throw .cancelled(target)
        } catch {
            throw .unreachable(target, String(describing: error))
        }
    }
}

/// Decides redirects and declines authentication challenges.
///
/// FoundationNetworking on Linux never hands a caller the 401 of a server that
/// asks for Basic credentials (it waits for a credential, and crashes when
/// given none): the challenge is cancelled instead, and ``HTTPClient`` turns
/// that into a 401 answer. Plugins send their credentials up front.
private final class SessionDelegate: NSObject, URLSessionTaskDelegate, Sendable {
    let followsRedirects: Bool

    init(followsRedirects: Bool) {
        self.followsRedirects = followsRedirects
    }

    func urlSession(
        _ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
        newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void
    ) {
        completionHandler(followsRedirects ? request : nil)
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

    public init(method: String = "GET", url: URL, headers: [String: String] = [:], body: Data? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
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

    /// The first lines of the body, for an error message.
    public var excerpt: String {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let line = trimmed.split(whereSeparator: \.isNewline).prefix(3).joined(separator: " ")
        return line.count > 200 ? String(line.prefix(200)) + "…" : line
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
        header("Retry-After").flatMap(Int.init).map { .seconds(max(0, $0)) }
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

    public var description: String {
        switch self {
        case .unreachable(let url, let why): return "\(url) could not be reached: \(why)"
        case .timedOut(let url, let timeout): return "\(url) did not answer within \(timeout)"
        case .cancelled(let url): return "the request to \(url) was cancelled"
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
