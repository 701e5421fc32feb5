import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// The request context of the admin server: Hummingbird's basic one plus
/// the peer's address, which the failed-token limiter counts by.
public struct AdminRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// The peer's IP address, or "?".
    var peer: String { remoteAddress?.ipAddress ?? "?" }
}

/// Which `Host` headers the admin answers, against DNS rebinding: a page on
/// another site whose name an attacker points at 127.0.0.1 reaches the admin
/// with that site's name in `Host`, and is refused.
///
/// Allowed: the listen address, `localhost` (and the loopback addresses)
/// when it listens on loopback, and `admin.allowed_hosts`. A host that
/// listens on every address (`0.0.0.0`, `::`) with no `allowed_hosts`
/// answers any name, and says so at start.
struct HostAllowList: Sendable {
    /// Lower-cased names, each bare or with its port.
    let names: Set<String>
    /// No list: any name is answered.
    let allowsAny: Bool

    init(listenHost: String, port: Int, allowed: [String]) {
        let host = listenHost.lowercased()
        let wildcard = host.isEmpty || host == "0.0.0.0" || host == "::" || host == "*"
        var names = Set(allowed.map { $0.lowercased() })
        if !wildcard { names.insert(host) }
        if host == "localhost" || host == "::1" || host.hasPrefix("127.") {
            names.formUnion(["localhost", "127.0.0.1", "::1"])
        }
        self.names = names
        allowsAny = wildcard && allowed.isEmpty
    }

    /// Whether `authority` (a `Host` header: `name`, `name:port`, `[v6]:port`) may be answered.
    func allows(_ authority: String?) -> Bool {
        if allowsAny { return true }
        guard let authority = authority?.lowercased(), !authority.isEmpty else { return false }
        if names.contains(authority) { return true }
        return names.contains(Self.hostPart(authority))
    }

    /// `authority` without its port and brackets.
    static func hostPart(_ authority: String) -> String {
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            return String(authority[authority.index(after: authority.startIndex)..<close])
        }
        if authority.filter({ $0 == ":" }).count == 1, let colon = authority.firstIndex(of: ":") {
            return String(authority[..<colon])
        }
        return authority
    }
}

/// Refuses requests whose `Host` the ``HostAllowList`` does not hold, with
/// 421 and what to configure; `/healthz` is exempt (probes use addresses).
struct HostCheckMiddleware<Context: RequestContext>: RouterMiddleware {
    let allowList: HostAllowList

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.uri.path == "/healthz" || allowList.allows(request.head.authority) else {
            let shown = String((request.head.authority ?? "(none)").prefix(100))
            return try AdminAPI.json(
                ErrorReply(
                    success: false,
                    error: "this host does not answer to the name '\(shown)'; add it to admin.allowed_hosts in pipeline.yaml "
                        + "if it is yours (a reverse proxy's name, say)"),
                status: .misdirectedRequest)
        }
        return try await next(request, context)
    }
}

/// Slows down guessing of the admin token. Each address that sends a wrong
/// token (bearer or sign-in form) has its failures counted over a window of
/// ten minutes: each of the first five is answered after 300 ms, each up to
/// the twentieth after a second, and from then on the address is answered
/// 429 with `Retry-After` until a minute after its last failure, whatever
/// it sends. A right token clears its count. Addresses remembered are
/// capped, the oldest forgotten first.
final class FailedTokenLimiter: Sendable {
    struct Entry: Sendable {
        var failures: Int
        var last: ContinuousClock.Instant
    }

    static let quickFailures = 5
    static let slowFailures = 20
    static let window: Duration = .seconds(600)
    static let coolDown: Duration = .seconds(60)
    /// Addresses remembered at most; the oldest are forgotten first.
    static let capacity = 10_000

    private let entries = Mutex<[String: Entry]>([:])

    /// How long `address` must wait before it may try again (it is refused
    /// until then), or nil.
    func wait(for address: String, now: ContinuousClock.Instant = .now) -> Duration? {
        entries.withLock { entries in
            guard let entry = entries[address] else { return nil }
            if now - entry.last > Self.window {
                entries[address] = nil
                return nil
            }
            guard entry.failures > Self.slowFailures else { return nil }
            let remaining = Self.coolDown - (now - entry.last)
            return remaining > .zero ? remaining : nil
        }
    }

    /// Counts a wrong token from `address`; returns how long to hold the answer.
    func recordFailure(from address: String, now: ContinuousClock.Instant = .now) -> Duration {
        let failures = entries.withLock { entries -> Int in
            if entries.count >= Self.capacity, entries[address] == nil {
                let stale = entries.filter { now - $0.value.last > Self.window }.map(\.key)
                for key in stale { entries[key] = nil }
                if entries.count >= Self.capacity, let oldest = entries.min(by: { $0.value.last < $1.value.last })?.key {
                    entries[oldest] = nil
                }
            }
            var entry = entries[address] ?? Entry(failures: 0, last: now)
            if now - entry.last > Self.window { entry.failures = 0 }
            entry.failures += 1
            entry.last = now
            entries[address] = entry
            return entry.failures
        }
        return failures <= Self.quickFailures ? .milliseconds(300) : .seconds(1)
    }

    func recordSuccess(from address: String) {
        _ = entries.withLock { $0.removeValue(forKey: address) }
    }

    /// The 429 answer for a client that must wait `wait`.
    static func tooManyAttempts(_ wait: Duration) throws -> Response {
        var response = try AdminAPI.json(
            ErrorReply(success: false, error: "too many wrong admin tokens from this address; wait a minute and try again"),
            status: .tooManyRequests)
        response.headers[.retryAfter] = String(max(1, wait.components.seconds + 1))
        return response
    }
}
