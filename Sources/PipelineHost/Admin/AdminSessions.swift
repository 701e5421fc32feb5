import Foundation
import Synchronization

/// Signed-in admin page sessions, in memory: a random session id in an
/// HttpOnly, SameSite=Strict cookie, and per session a random token that
/// every form that changes something must carry (cross-site requests cannot
/// read it). Sessions end on sign-out, after 12 hours, or when the host stops.
final class AdminSessions: Sendable {
    struct Session: Sendable {
        var csrfToken: String
        var expires: Date
    }

    static let cookieName = "pipeline_admin"
    static let lifetime: TimeInterval = 12 * 3600

    private let sessions = Mutex<[String: Session]>([:])

    /// Starts a session; returns its id and its form token.
    func start(now: Date = Date()) -> (id: String, csrfToken: String) {
        let id = Self.randomToken()
        let csrf = Self.randomToken()
        sessions.withLock { sessions in
            sessions = sessions.filter { $0.value.expires > now }
            sessions[id] = Session(csrfToken: csrf, expires: now.addingTimeInterval(Self.lifetime))
        }
        return (id, csrf)
    }

    /// The live session with `id`, or nil.
    func session(_ id: String?, now: Date = Date()) -> Session? {
        guard let id, !id.isEmpty else { return nil }
        return sessions.withLock { sessions in
            guard let session = sessions[id] else { return nil }
            guard session.expires > now else {
                sessions[id] = nil
                return nil
            }
            return session
        }
    }

    func end(_ id: String?) {
        guard let id else { return }
        _ = sessions.withLock { $0.removeValue(forKey: id) }
    }

    /// 32 random bytes, hex.
    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }

    /// Compares in time independent of where the texts differ.
    static func constantTimeEqual(_ given: String, _ expected: String) -> Bool {
        let a = Array(given.utf8)
        let b = Array(expected.utf8)
        guard a.count == b.count, !b.isEmpty else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}
