import Foundation
import PluginHTTP
import PluginKit

/// The connection settings every download client reads from its `config`
/// in pipeline.yaml (docs/configuration.md, "Download clients"). The same
/// config also holds the settings of the host's download jobs
/// (`DownloadJobSettings`); each side reads its own keys.
public struct DownloadClientSettings: Sendable, Decodable {
    /// The client's base URL: `http://127.0.0.1:8080` (qBittorrent),
    /// `http://127.0.0.1:9091` (Transmission).
    public var url: URL
    public var username: String
    public var password: String
    /// The largest answer of the client's own API, decoded.
    public var maxResponseBytes: Int
    /// How long one call to the client may take.
    public var requestTimeout: Duration

    enum CodingKeys: String, CodingKey {
        case url, username, password
        case maxResponseBytes = "max_response_bytes"
        case requestTimeout = "request_timeout"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let text = try container.decode(String.self, forKey: .url)
        guard let url = URL.serverBase(text)
        else {
            throw DecodingError.dataCorruptedError(
                forKey: .url, in: container, debugDescription: "'\(text)' is not an http(s) URL such as http://127.0.0.1:8080")
        }
        self.url = url
        username = try container.decodeIfPresent(String.self, forKey: .username) ?? ""
        password = try container.decodeIfPresent(String.self, forKey: .password) ?? ""
        maxResponseBytes = try SettingBytes.decode(container, .maxResponseBytes, HTTPClient.defaultMaximumBodyBytes)
        requestTimeout = try SettingDuration.decode(container, .requestTimeout, .seconds(30))
    }
}

/// A byte count in a client's settings: 1 KiB to 16 GiB.
public enum SettingBytes {
    public static func decode<Key: CodingKey>(_ container: KeyedDecodingContainer<Key>, _ key: Key, _ fallback: Int) throws -> Int {
        guard let value = try container.decodeIfPresent(Int64.self, forKey: key) else { return fallback }
        guard (1024...(1 << 34)).contains(value) else {
            throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "must be from 1024 to 17179869184 bytes")
        }
        return Int(value)
    }
}

/// A duration in a download client's settings, written as pipeline.yaml
/// writes every duration: a number and a unit (`500ms`, `10s`, `5m`, `1h`,
/// `2d`). A bare number is refused, so that `10` is never guessed to mean
/// seconds or milliseconds; settings that take a number of seconds say so in
/// their name (`…_seconds`). At most ten years.
public struct SettingDuration: Decodable {
    public var duration: Duration

    /// The longest duration a setting takes, in milliseconds: ten years,
    /// as long as the longest delay a job may have.
    static let maximumMilliseconds: Double = 10 * 366 * 86_400_000

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Double.self) {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "\(number) has no unit: write e.g. \(number)s or \(number)ms")
        }
        let text = try container.decode(String.self).trimmingCharacters(in: .whitespaces)
        let units: [(String, Double)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            let digits = text.dropLast(suffix.count)
            guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }), let number = Double(digits) else {
                continue
            }
            let milliseconds = (number * factor).rounded()
            guard milliseconds.isFinite, milliseconds <= Self.maximumMilliseconds else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "'\(text)' is longer than ten years")
            }
            duration = .milliseconds(Int64(milliseconds))
            return
        }
        throw DecodingError.dataCorruptedError(
            in: container, debugDescription: "'\(text)' is not a duration: write a number and a unit, such as 500ms, 10s, 5m")
    }
}

extension SettingDuration {
    /// The duration at `key`, longer than zero, or `fallback` when absent.
    public static func decode<Key: CodingKey>(
        _ container: KeyedDecodingContainer<Key>, _ key: Key, _ fallback: Duration
    ) throws -> Duration {
        guard let value = try container.decodeIfPresent(SettingDuration.self, forKey: key) else { return fallback }
        guard value.duration > .zero else {
            throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "must be longer than 0s")
        }
        return value.duration
    }
}
