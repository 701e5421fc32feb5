/// Hiding the credentials of service URLs (`redis://:secret@host`,
/// `postgres://user:secret@host/db`) before they reach a message or a log.
enum URLCredentials {
    /// `url` with the password of its user part replaced by `***`; a user
    /// part without a colon (`redis://secret@host`, where the password is
    /// the whole part) is replaced entirely. Works on text that does not
    /// parse as a URL, since that is when it is shown in an error.
    static func redacted(_ url: String) -> String {
        guard let scheme = url.range(of: "://") else { return url }
        let rest = url[scheme.upperBound...]
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        guard let at = rest[..<authorityEnd].lastIndex(of: "@") else { return url }
        let credentials = rest[..<at]
        guard let colon = credentials.firstIndex(of: ":") else {
            return url.replacingCharacters(in: rest.startIndex..<at, with: "***")
        }
        return url.replacingCharacters(in: url.index(after: colon)..<at, with: "***")
    }
}
