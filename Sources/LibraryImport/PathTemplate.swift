/// The library path of a book, from a template such as
/// `{author}/{title} {asin}` (the default).
///
/// Fields: `{author}`, `{title}`, `{asin}`, `{series}`, `{seriesPart}`,
/// `{year}`, `{narrator}`. A field without a value vanishes with the spaces
/// around it. Only the template's own `/` separate folders: every value is
/// made a safe name first (``FileNames/component(_:fallback:keepingExtension:)``),
/// so a title such as `../../etc` or `AC/DC` can never leave its folder.
public struct PathTemplate: Sendable, Equatable {
    public static let fields = ["author", "title", "asin", "series", "seriesPart", "year", "narrator"]
    public static let `default` = PathTemplate(unchecked: "{author}/{title} {asin}")

    public let text: String

    /// A template that is not usable, and why.
    public struct Invalid: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// - Throws: ``Invalid`` for an absolute template, an unknown field, an
    ///   unclosed brace, or a `..` folder.
    public init(_ text: String) throws(Invalid) {
        guard !text.hasPrefix("/") else { throw Invalid(description: "path_template must be relative to library_root: '\(text)'") }
        var rest = Substring(text)
        while let open = rest.firstIndex(of: "{") {
            guard let close = rest[open...].firstIndex(of: "}") else {
                throw Invalid(description: "path_template has a '{' without its '}': '\(text)'")
            }
            let name = String(rest[rest.index(after: open)..<close])
            guard Self.fields.contains(name) else {
                throw Invalid(
                    description: "path_template names an unknown field {\(name)}; the fields are "
                        + Self.fields.map { "{\($0)}" }.joined(separator: ", "))
            }
            rest = rest[rest.index(after: close)...]
        }
        guard !text.split(separator: "/").contains(where: { $0.trimmingCharacters(in: .whitespaces) == ".." }) else {
            throw Invalid(description: "path_template may not contain '..': '\(text)'")
        }
        self.text = text
    }

    private init(unchecked text: String) {
        self.text = text
    }

    /// The folders, each a safe name, for a book with `values` (field → value).
    public func components(_ values: [String: String]) -> [String] {
        text.split(separator: "/").compactMap { segment -> String? in
            var rendered = ""
            var rest = Substring(segment)
            while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
                rendered += rest[..<open]
                let name = String(rest[rest.index(after: open)..<close])
                rendered += FileNames.component(values[name] ?? "", fallback: "")
                rest = rest[rest.index(after: close)...]
            }
            rendered += rest
            let name = FileNames.component(rendered, fallback: "")
            return name.isEmpty ? nil : name
        }
    }
}
