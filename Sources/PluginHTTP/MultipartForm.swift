import Foundation

/// A `multipart/form-data` body: text fields and files.
public struct MultipartForm: Sendable {
    public let boundary: String
    private var body = Data()

    public init(boundary: String = "pipeline-" + UUID().uuidString) {
        self.boundary = boundary
    }

    /// The `Content-Type` header value for this body.
    public var contentType: String { "multipart/form-data; boundary=\(boundary)" }

    /// Adds a text field.
    public mutating func add(_ name: String, _ value: String) {
        body.append(Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(Self.quoted(name))\"\r\n\r\n".utf8))
        body.append(Data(value.utf8))
        body.append(Data("\r\n".utf8))
    }

    /// Adds a file field.
    public mutating func add(_ name: String, fileName: String, contentType: String, data: Data) {
        body.append(
            Data(
                """
                --\(boundary)\r\nContent-Disposition: form-data; name="\(Self.quoted(name))"; filename="\(Self.quoted(fileName))"\r\n\
                Content-Type: \(contentType)\r\n\r\n
                """.utf8))
        body.append(data)
        body.append(Data("\r\n".utf8))
    }

    /// The finished body.
    public var data: Data {
        body + Data("--\(boundary)--\r\n".utf8)
    }

    private static func quoted(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ")
    }
}
