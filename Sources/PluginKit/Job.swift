import Foundation

/// One job, as the host hands it to ``PipelinePlugin/execute(_:context:)``.
public struct Job: Sendable {
    /// The job's id in the queue.
    public var id: String
    /// The job type: one of the plugin's ``PluginInfo/jobTypes``.
    public var type: String
    /// This attempt's number, from 1.
    public var attempt: Int
    /// The attempts allowed in all.
    public var maxAttempts: Int
    /// When the job was added.
    public var createdAt: Date
    /// The job's data, as JSON text.
    public var payloadJSON: String

    /// Whether a transient failure now fails the job for good.
    public var isLastAttempt: Bool { attempt >= maxAttempts }

    public init(id: String, type: String, attempt: Int, maxAttempts: Int, createdAt: Date, payloadJSON: String) {
        self.id = id
        self.type = type
        self.attempt = attempt
        self.maxAttempts = maxAttempts
        self.createdAt = createdAt
        self.payloadJSON = payloadJSON
    }

    /// The payload decoded as `type`.
    ///
    /// - Throws: a permanent ``PluginError`` naming the job type and the field
    ///   at fault, since no retry makes a malformed payload well formed.
    public func payload<T: Decodable>(as type: T.Type = T.self) throws -> T {
        do {
            return try JSONCoding.decode(type, from: payloadJSON)
        } catch {
            throw PluginError.permanent(
                "malformed payload for job type '\(self.type)': \(JSONCoding.describe(error))",
                details: ["payload": .string(String(payloadJSON.prefix(500)))])
        }
    }
}
