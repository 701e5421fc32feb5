import Foundation

/// Where and how to reach Redis: `redis://[[user]:password@]host[:port][/db]`.
public struct RedisURL: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var username: String?
    public var password: String?
    public var database: Int

    public init(host: String = "127.0.0.1", port: Int = 6379, username: String? = nil, password: String? = nil, database: Int = 0) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
    }

    /// Parses `text`.
    ///
    /// - Throws: ``RedisError`` saying what is wrong with it.
    public init(parsing text: String) throws(RedisError) {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased() else {
            throw RedisError.badURL(URLCredentials.redacted(text), "expected redis://[:password@]host[:port][/db]")
        }
        if scheme == "rediss" {
            throw RedisError.badURL(URLCredentials.redacted(text), "TLS (rediss://) is not supported by this build's hiredis; use a TLS proxy or redis://")
        }
        guard scheme == "redis" else { throw RedisError.badURL(URLCredentials.redacted(text), "the scheme must be redis://") }
        guard let host = components.host, !host.isEmpty else { throw RedisError.badURL(URLCredentials.redacted(text), "no host") }
        self.host = host
        port = components.port ?? 6379
        guard (1...65_535).contains(port) else { throw RedisError.badURL(URLCredentials.redacted(text), "the port must be from 1 to 65535") }
        username = components.user.flatMap { $0.isEmpty ? nil : $0.removingPercentEncoding }
        password = components.password?.removingPercentEncoding
        let path = components.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        if path.isEmpty {
            database = 0
        } else if let number = Int(path), number >= 0 {
            database = number
        } else {
            throw RedisError.badURL(URLCredentials.redacted(text), "the path must be a database number, such as /0")
        }
    }

    /// The URL with its password hidden.
    public var description: String {
        "redis://\(password == nil ? "" : "\(username ?? ""):***@")\(host):\(port)/\(database)"
    }
}
