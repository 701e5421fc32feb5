/// One book a library backend lists (Plex, Audiobookshelf): what a plugin
/// reports through `report_library` (since ABI 1.1) and what the host records in
/// `library_items` and matches against requests. The one type both sides
/// encode and decode, so the field names exist once.
public struct LibraryBook: Sendable, Hashable, Codable {
    public var id: String
    public var title: String
    /// Empty when the backend names no author.
    public var author: String
    public var asin: String?
    public var isbn: String?
    /// Where the backend keeps it.
    public var path: String?
    /// When it was added to the library (ISO 8601).
    public var addedAt: String?

    public init(
        id: String, title: String, author: String?, asin: String? = nil, isbn: String? = nil, path: String? = nil,
        addedAt: String? = nil
    ) {
        self.id = id
        self.title = title
        self.author = author ?? ""
        self.asin = asin
        self.isbn = isbn
        self.path = path
        self.addedAt = addedAt
    }

    enum CodingKeys: String, CodingKey {
        case id, title, author, asin, isbn, path
        case addedAt = "added_at"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        title = try container.decode(String.self, forKey: .title)
        author = try container.decodeIfPresent(String.self, forKey: .author) ?? ""
        asin = try container.decodeIfPresent(String.self, forKey: .asin).flatMap { $0.isEmpty ? nil : $0 }
        isbn = try container.decodeIfPresent(String.self, forKey: .isbn).flatMap { $0.isEmpty ? nil : $0 }
        path = try container.decodeIfPresent(String.self, forKey: .path)
        addedAt = try container.decodeIfPresent(String.self, forKey: .addedAt)
    }
}
