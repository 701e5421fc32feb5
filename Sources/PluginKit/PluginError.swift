/// An error a plugin throws to say how the host should treat a failed job.
///
/// Throw ``permanent(_:details:)`` for what no retry can fix (bad credentials,
/// a malformed payload) and ``transient(_:retryAfter:details:)`` for what may
/// work later (a timeout, a 5xx answer). Any other error a plugin throws is
/// treated as transient, so the retry policy applies.
public struct PluginError: Error, Sendable, CustomStringConvertible {
    /// Whether another attempt could succeed.
    public enum Disposition: Sendable, Hashable {
        case transient
        case permanent
    }

    public var disposition: Disposition
    /// What went wrong and what to do about it, for the person reading the job log.
    public var message: String
    /// For transient errors: wait this long before the next attempt instead of
    /// the retry policy's backoff.
    public var retryAfter: Duration?
    /// Structured details recorded with the failure.
    public var details: JSONValue?
    /// Set when the host refused what the plugin asked for (a request
    /// transition the request's status does not allow, such as any move of a
    /// cancelled request): a sign to stop working for that request.
    public var isHostRefusal = false

    public var description: String { message }

    /// A failure that no retry can fix.
    public static func permanent(_ message: String, details: JSONValue? = nil) -> PluginError {
        PluginError(disposition: .permanent, message: message, retryAfter: nil, details: details)
    }

    /// A failure that may go away: the host retries while attempts remain.
    public static func transient(
        _ message: String, retryAfter: Duration? = nil, details: JSONValue? = nil
    ) -> PluginError {
        PluginError(disposition: .transient, message: message, retryAfter: retryAfter, details: details)
    }
}
