/// One client path prefix and the local path it stands for: a client in a
/// container saves to `/downloads/...`, which the host sees as
/// `/srv/downloads/...`.
public struct PathMapping: Sendable, Equatable, Codable {
    /// The prefix as the client reports it.
    public var remote: String
    /// The same place as the host sees it.
    public var local: String

    public init(remote: String, local: String) {
        self.remote = remote
        self.local = local
    }
}

/// Client paths to local paths.
///
/// Backslashes count as separators (a Windows client), prefixes match whole
/// path components only (`/data` never maps `/database`), and the longest
/// matching prefix wins. A path no mapping covers is returned as it is.
public struct PathMappings: Sendable, Equatable {
    public var mappings: [PathMapping]

    public init(_ mappings: [PathMapping]) {
        self.mappings = mappings
    }

    /// `path` as the host sees it.
    public func localPath(for path: String) -> String {
        let normalized = Self.normalize(path)
        var best: (length: Int, mapping: PathMapping)?
        for mapping in mappings {
            let remote = Self.normalize(mapping.remote)
            guard Self.path(normalized, isWithin: remote) else { continue }
            if remote.count > best?.length ?? -1 { best = (remote.count, mapping) }
        }
        guard let best else { return normalized }
        let rest = normalized.dropFirst(best.length).drop { $0 == "/" }
        let local = Self.normalize(best.mapping.local)
        if rest.isEmpty { return local }
        return local == "/" ? "/" + rest : local + "/" + rest
    }

    /// Whether `path` is `base` or inside it, comparing whole components.
    public static func path(_ path: String, isWithin base: String) -> Bool {
        let path = normalize(path)
        let base = normalize(base)
        if base == "/" { return path.hasPrefix("/") }
        return path == base || path.hasPrefix(base + "/")
    }

    /// Backslashes to slashes, repeated slashes to one, no trailing slash.
    public static func normalize(_ path: String) -> String {
        var result = ""
        var lastWasSlash = false
        for character in path {
            let isSlash = character == "/" || character == "\\"
            if isSlash {
                if !lastWasSlash { result.append("/") }
            } else {
                result.append(character)
            }
            lastWasSlash = isSlash
        }
        if result.count > 1, result.hasSuffix("/") { result.removeLast() }
        return result
    }
}
