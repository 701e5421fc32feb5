/// A plugin's `config` object from pipeline.yaml.
public struct PluginConfiguration: Sendable {
    /// The configuration as JSON text (`{}` when pipeline.yaml gives none).
    public var json: String

    public init(json: String) {
        self.json = json
    }

    /// The configuration decoded as `type`.
    ///
    /// - Throws: a permanent ``PluginError`` that names the setting at fault.
    public func decode<T: Decodable>(_ type: T.Type = T.self) throws -> T {
        do {
            return try JSONCoding.decode(type, from: json)
        } catch {
            throw PluginError.permanent("bad plugin config: \(JSONCoding.describe(error))")
        }
    }

    /// The configuration as a ``JSONValue``.
    public var value: JSONValue {
        (try? JSONCoding.decode(JSONValue.self, from: json)) ?? .object([:])
    }
}
