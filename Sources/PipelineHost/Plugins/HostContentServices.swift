import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import PipelineJSON
import PluginABI
import PluginHTTP
import Synchronization

/// The host services (since ABI 1.3) that spare a C plugin its own HTTP client
/// and JSON code: `http_request`, `json_get` and `json_set`. Each runs on
/// the plugin's calling thread and lends its answer to the call.
enum HostContentServices {
    static let httpRequest:
        @convention(c) (OpaquePointer?, UnsafePointer<CChar>?, UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> pp_status = {
            handle, requestJSON, out in
            guard let call = PluginCallRegistry.call(for: handle) else { return PP_ERR_UNSUPPORTED }
            guard let out else { return PP_ERR_INVALID_ARGUMENT }
            out.pointee = nil
            guard let requestJSON, strnlen(requestJSON, maximumRequestBytes + 1) <= maximumRequestBytes,
                let text = String(validatingCString: requestJSON), let value = JSONValue(jsonText: text)
            else {
                warn(call, "http_request: the request is not JSON (or is over \(maximumRequestBytes >> 20) MiB)")
                return PP_ERR_INVALID_ARGUMENT
            }
            let request: PluginHTTPRequest
            do {
                request = try PluginHTTPRequest(value)
            } catch {
                warn(call, "http_request: \(error)")
                return PP_ERR_INVALID_ARGUMENT
            }
            let context = call.hostContext ?? PluginHostContext.detached
            switch context.http.perform(request, cancelled: { call.isCancelled }) {
            case .success(let answer):
                out.pointee = call.lend(answer.jsonText)
                return PP_OK
            case .failure(let failure):
                out.pointee = call.lend(failure.json.jsonText)
                return PP_ERR_FAILED
            }
        }

    static let jsonGet:
        @convention(c) (
            OpaquePointer?, UnsafePointer<CChar>?, UnsafePointer<CChar>?, UnsafeMutablePointer<UnsafePointer<CChar>?>?,
            UnsafeMutablePointer<Int32>?
        ) -> pp_status = { handle, json, pointer, out, outType in
            guard let call = PluginCallRegistry.call(for: handle) else { return PP_ERR_UNSUPPORTED }
            guard let out, let pointer, let pointerText = String(validatingCString: pointer) else { return PP_ERR_INVALID_ARGUMENT }
            out.pointee = nil
            guard let value = parse(json, call: call, what: "json_get") else { return PP_ERR_INVALID_ARGUMENT }
            let found: JSONValue?
            do {
                found = try value.value(atPointer: pointerText)
            } catch {
                warn(call, "json_get: \(error)")
                return PP_ERR_INVALID_ARGUMENT
            }
            guard let found else { return PP_ERR_REFUSED }
            let (text, type): (String, Int32) =
                switch found {
                case .null: ("null", PP_JSON_NULL)
                case .bool(let flag): (flag ? "true" : "false", PP_JSON_BOOL)
                case .int, .double: (found.jsonText, PP_JSON_NUMBER)
                case .string(let string): (string, PP_JSON_STRING)
                case .array: (found.jsonText, PP_JSON_ARRAY)
                case .object: (found.jsonText, PP_JSON_OBJECT)
                }
            out.pointee = call.lend(text)
            outType?.pointee = type
            return PP_OK
        }

    static let jsonSet:
        @convention(c) (
            OpaquePointer?, UnsafePointer<CChar>?, UnsafePointer<CChar>?, Int32, UnsafePointer<CChar>?,
            UnsafeMutablePointer<UnsafePointer<CChar>?>?
        ) -> pp_status = { handle, json, pointer, type, value, out in
            guard let call = PluginCallRegistry.call(for: handle) else { return PP_ERR_UNSUPPORTED }
            guard let out, let pointer, let pointerText = String(validatingCString: pointer), let value else {
                return PP_ERR_INVALID_ARGUMENT
            }
            out.pointee = nil
            // NULL is refused, not read as "{}": in a chain of sets, a failed
            // step must not start the text over.
            guard let document = parse(json, call: call, what: "json_set") else { return PP_ERR_INVALID_ARGUMENT }
            guard strnlen(value, maximumDocumentBytes + 1) <= maximumDocumentBytes, let valueText = String(validatingCString: value)
            else {
                warn(call, "json_set: the value is not UTF-8 text (or is over \(maximumDocumentBytes >> 20) MiB)")
                return PP_ERR_INVALID_ARGUMENT
            }
            let newValue: JSONValue
            if type == PP_JSON_STRING {
                newValue = .string(valueText)
            } else {
                guard let parsed = JSONValue(jsonText: valueText), parsed.abiType == type else {
                    warn(call, "json_set: '\(valueText.prefix(80))' is not JSON of type \(type) (PP_JSON_*)")
                    return PP_ERR_INVALID_ARGUMENT
                }
                newValue = parsed
            }
            do {
                out.pointee = call.lend(try document.setting(newValue, atPointer: pointerText).jsonText)
                return PP_OK
            } catch {
                warn(call, "json_set: \(error)")
                return PP_ERR_INVALID_ARGUMENT
            }
        }

    /// The largest request `http_request` takes: 64 MiB (an NZB in base64 fits).
    static let maximumRequestBytes = 64 << 20
    /// The largest JSON text `json_get` and `json_set` read: 256 MiB, as large
    /// as the largest answer `http_request` may lend.
    static let maximumDocumentBytes = 256 << 20

    private static func parse(_ json: UnsafePointer<CChar>?, call: PluginCall, what: String) -> JSONValue? {
        guard let json, strnlen(json, maximumDocumentBytes + 1) <= maximumDocumentBytes, let text = String(validatingCString: json),
            let value = JSONValue(jsonText: text)
        else {
            warn(call, "\(what): the text is not JSON")
            return nil
        }
        return value
    }

    private static func warn(_ call: PluginCall, _ message: String) {
        call.appendEvent(PluginLogEvent(level: .warn, message: message, metadataJSON: nil, time: Date()))
    }
}

extension JSONValue {
    /// The PP_JSON_* type of the value.
    var abiType: Int32 {
        switch self {
        case .null: PP_JSON_NULL
        case .bool: PP_JSON_BOOL
        case .int, .double: PP_JSON_NUMBER
        case .string: PP_JSON_STRING
        case .array: PP_JSON_ARRAY
        case .object: PP_JSON_OBJECT
        }
    }
}

/// One `http_request`, as the plugin described it.
struct PluginHTTPRequest: Sendable {
    var method: String
    var url: URL
    var headers: [String: String]
    var body: Data?
    var timeout: Duration
    var maximumResponseBytes: Int
    var secrets: [String]

    static let maximumTimeoutMilliseconds: Int64 = 600_000
    static let maximumResponseBytesLimit = 256 << 20

    struct Invalid: Error, CustomStringConvertible {
        var description: String
    }

    init(_ value: JSONValue) throws(Invalid) {
        guard case .object(let members) = value else { throw Invalid(description: "the request is not a JSON object") }
        let known: Set<String> = [
            "url", "method", "headers", "body", "body_base64", "timeout_ms", "max_response_bytes", "secrets", "basic_auth",
        ]
        if let unknown = members.keys.sorted().first(where: { !known.contains($0) }) {
            throw Invalid(description: "unknown key \"\(unknown.prefix(40))\"; the keys are \(known.sorted().joined(separator: ", "))")
        }
        guard let text = members["url"]?.stringValue, let url = URL(string: text),
            ["http", "https"].contains(url.scheme?.lowercased() ?? ""), url.host != nil
        else { throw Invalid(description: "\"url\" must be an http or https URL") }
        self.url = url
        method = members["method"]?.stringValue ?? "GET"
        guard !method.isEmpty, method.count <= 16, method.allSatisfy({ $0.isASCII && ($0.isLetter) }) else {
            throw Invalid(description: "\"method\" must be an HTTP method such as GET or POST")
        }
        headers = [:]
        if let given = members["headers"] {
            guard case .object(let pairs) = given else { throw Invalid(description: "\"headers\" must be an object of strings") }
            for (name, value) in pairs {
                guard let value = value.stringValue, !name.isEmpty, !name.contains(where: { $0 == ":" || $0.isNewline || $0 == " " }),
                    !value.contains(where: \.isNewline)
                else { throw Invalid(description: "header \"\(name.prefix(40))\" must be a name and a one-line string") }
                headers[name] = value
            }
        }
        if let text = members["body"]?.stringValue {
            body = Data(text.utf8)
        } else if let text = members["body_base64"]?.stringValue {
            guard let data = Data(base64Encoded: text) else { throw Invalid(description: "\"body_base64\" is not base64") }
            body = data
        }
        let milliseconds = members["timeout_ms"]?.intValue ?? 30_000
        guard (1...Self.maximumTimeoutMilliseconds).contains(milliseconds) else {
            throw Invalid(description: "\"timeout_ms\" must be from 1 to \(Self.maximumTimeoutMilliseconds)")
        }
        timeout = .milliseconds(milliseconds)
        let limit = members["max_response_bytes"]?.intValue ?? Int64(16 << 20)
        guard (1...Int64(Self.maximumResponseBytesLimit)).contains(limit) else {
            throw Invalid(description: "\"max_response_bytes\" must be from 1 to \(Self.maximumResponseBytesLimit)")
        }
        maximumResponseBytes = Int(limit)
        secrets = (members["secrets"]?.arrayValue ?? []).compactMap(\.stringValue).filter { !$0.isEmpty }
        if let auth = members["basic_auth"] {
            guard let username = auth["username"]?.stringValue, let password = auth["password"]?.stringValue, !username.contains(":")
            else { throw Invalid(description: "\"basic_auth\" must be {\"username\": text without ':', \"password\": text}") }
            let credentials = Data("\(username):\(password)".utf8).base64EncodedString()
            headers = headers.filter { $0.key.lowercased() != "authorization" }
            headers["Authorization"] = "Basic \(credentials)"
            secrets += [password, credentials].filter { !$0.isEmpty }
        }
    }

    /// `text` with every secret masked.
    func redacting(_ text: String) -> String {
        secrets.reduce(text) { $0.replacingOccurrences(of: $1, with: "***") }
    }
}

/// An instance's HTTP through the host: one client per timeout, and the
/// cookies its servers set (a login session), kept for the instance's life.
final class PluginHTTPSession: Sendable {
    private let clients = Mutex<[Int64: HTTPClient]>([:])
    private let cookies = Mutex<[String: StoredCookie]>([:])

    private struct StoredCookie: Sendable {
        var name: String
        var value: String
        var host: String
        var path: String
        var expires: Date?
        var secure: Bool
    }

    /// An answer, or why none came, as the plugin receives them.
    enum Failure: Error {
        case noAnswer(kind: String, message: String)

        var json: JSONValue {
            switch self {
            case .noAnswer(let kind, let message): return ["error": .string(message), "kind": .string(kind)]
            }
        }
    }

    /// Sends `request` and waits on the calling thread, giving up when
    /// `cancelled` says so (checked every 20 ms).
    func perform(_ request: PluginHTTPRequest, cancelled: @escaping @Sendable () -> Bool) -> Result<JSONValue, Failure> {
        let milliseconds = request.timeout.wholeMillisecondsForHTTP
        let client = clients.withLock { clients in
            if let existing = clients[milliseconds] { return existing }
            // Redirects come back to the plugin as they are: followed blindly,
            // one would carry the plugin's Authorization header and this
            // server's cookies to another origin.
            let made = HTTPClient(
                timeout: request.timeout, followsRedirects: false, maximumBodyBytes: PluginHTTPRequest.maximumResponseBytesLimit)
            if clients.count < 16 { clients[milliseconds] = made }
            return made
        }
        // The host asks for uncompressed answers (HTTPClient refuses others):
        // a plugin's own Accept-Encoding would only make them fail.
        var headers = request.headers.filter { $0.key.lowercased() != "accept-encoding" }
        if let cookie = cookieHeader(for: request.url), !headers.keys.contains(where: { $0.lowercased() == "cookie" }) {
            headers["Cookie"] = cookie
        }
        let outgoing = HTTPRequest(
            method: request.method, url: request.url, headers: headers, body: request.body, maximumBodyBytes: request.maximumResponseBytes)
        let box = Mutex<Result<HTTPResponse, HTTPClientError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let task = Task {
            do throws(HTTPClientError) {
                let response = try await client.send(outgoing)
                box.withLock { $0 = .success(response) }
            } catch {
                box.withLock { $0 = .failure(error) }
            }
            done.signal()
        }
        var cancelledByCall = false
        while done.wait(timeout: .now() + .milliseconds(20)) == .timedOut {
            if !cancelledByCall, cancelled() {
                cancelledByCall = true
                task.cancel()
            }
        }
        switch box.withLock({ $0 })! {
        case .success(let response):
            keepCookies(from: response, url: request.url)
            var answer: [String: JSONValue] = [
                "status": .int(Int64(response.status)),
                "headers": .object(response.headers.mapValues(JSONValue.string)),
            ]
            if let text = String(data: response.body, encoding: .utf8) {
                answer["body"] = .string(text)
            } else {
                answer["body_base64"] = .string(response.body.base64EncodedString())
            }
            return .success(.object(answer))
        case .failure(let error):
            let kind: String
            switch error {
            case .timedOut: kind = "timeout"
            case .cancelled: kind = "cancelled"
            case .tooLarge: kind = "too_large"
            case .unreachable(_, let why):
                let lowered = why.lowercased()
                kind = lowered.contains("ssl") || lowered.contains("certificate") || lowered.contains("tls") ? "tls" : "unreachable"
            }
            return .failure(.noAnswer(kind: kind, message: request.redacting(error.description)))
        }
    }

    /// The Cookie header for `url`: the cookies its host set, for a path
    /// prefix of it, not expired, and secure ones over https only.
    private func cookieHeader(for url: URL) -> String? {
        guard let host = url.host?.lowercased() else { return nil }
        let path = url.path.isEmpty ? "/" : url.path
        let secure = url.scheme?.lowercased() == "https"
        let now = Date()
        let matching = cookies.withLock { stored in
            stored = stored.filter { $0.value.expires.map { $0 > now } ?? true }
            return stored.values.filter { $0.host == host && path.hasPrefix($0.path) && (secure || !$0.secure) }.sorted { $0.name < $1.name }
        }
        guard !matching.isEmpty else { return nil }
        return matching.map { "\($0.name)=\($0.value)" }.joined(separator: "; ")
    }

    private func keepCookies(from response: HTTPResponse, url: URL) {
        guard let header = response.header("set-cookie"), let host = url.host?.lowercased() else { return }
        let parsed = HTTPCookie.cookies(withResponseHeaderFields: ["Set-Cookie": header], for: url)
        cookies.withLock { stored in
            for cookie in parsed {
                let path = cookie.path.isEmpty ? "/" : cookie.path
                let key = cookie.name + "@" + host + path
                guard stored.count < 64 || stored[key] != nil else { continue }
                if let expires = cookie.expiresDate, expires < Date() {
                    stored[key] = nil
                } else {
                    stored[key] = StoredCookie(
                        name: cookie.name, value: cookie.value, host: host, path: path, expires: cookie.expiresDate, secure: cookie.isSecure)
                }
            }
        }
    }
}

extension Duration {
    fileprivate var wholeMillisecondsForHTTP: Int64 {
        components.seconds &* 1000 &+ components.attoseconds / 1_000_000_000_000_000
    }
}
