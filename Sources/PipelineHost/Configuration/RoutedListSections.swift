/// The sections that list plugin instances to route job types over:
/// `download_clients` and `library_backends`.
extension ConfigurationLoader {
    static let downloadClientKeys = ["plugin", "protocols", "accept_new"]

    /// One entry of a routed list: its plugin, where it is written, its fields by name.
    struct ListEntry {
        var path: String
        var plugin: String
        var location: SourceLocation
        var fields: [String: (name: String, key: YAMLNode, value: YAMLNode)]
    }

    /// The entries of the list `what` at `node`: each a mapping with `plugin`
    /// naming a declared plugin entry, once; every problem reported.
    func decodeListEntries(
        _ node: YAMLNode, _ what: String, allowed: [String], noun: String, declaredPlugins: [String],
        reader: ConfigurationNodeReader
    ) -> [ListEntry] {
        guard case .sequence(let items) = node.kind else {
            reader.error(at: node.location, "\(what) must be a list of {\(allowed.joined(separator: ", "))}, found \(node.summary)")
            return []
        }
        if items.isEmpty { reader.error(at: node.location, "\(what) lists no \(noun); name at least one, or leave the key out") }
        var entries: [ListEntry] = []
        for (index, item) in items.enumerated() {
            let path = "\(what)[\(index)]"
            guard let fields = reader.mapping(item, path, allowed: allowed) else { continue }
            let byName = Dictionary(fields.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
            guard let pluginField = byName["plugin"] else {
                reader.error(at: item.location, "\(path) has no 'plugin': name the plugins entry of the \(noun)")
                continue
            }
            guard let plugin = reader.string(pluginField.value, "\(path).plugin", allowEmpty: false) else { continue }
            guard declaredPlugins.contains(plugin) else {
                let hint = ConfigurationNodeReader.suggestion(for: plugin, among: declaredPlugins)
                reader.error(at: pluginField.value.location, "unknown plugin '\(plugin)' in \(path).plugin\(hint)")
                continue
            }
            if let twin = entries.first(where: { $0.plugin == plugin }) {
                reader.error(
                    at: pluginField.value.location,
                    "\(path): plugin '\(plugin)' is listed already (line \(twin.location.line)); list each instance once, "
                        + "and load a file twice under two plugin names for two instances")
                continue
            }
            entries.append(ListEntry(path: path, plugin: plugin, location: item.location, fields: byName))
        }
        return entries
    }

    /// pipeline.yaml's `download_clients`: a list of `{plugin, protocols, accept_new}`.
    func decodeDownloadClients(_ node: YAMLNode, declaredPlugins: [String], reader: ConfigurationNodeReader)
        -> [DownloadClientRoute]
    {
        let what = DownloadClientRoute.listName
        let entries = decodeListEntries(
            node, what, allowed: Self.downloadClientKeys, noun: "client", declaredPlugins: declaredPlugins, reader: reader)
        let clients = entries.map { entry in
            var route = DownloadClientRoute(plugin: entry.plugin, location: entry.location)
            if let field = entry.fields["protocols"] {
                route.protocols = decodeProtocols(field.value, "\(entry.path).protocols", reader: reader)
                route.protocolsWritten = true
            }
            if let field = entry.fields["accept_new"], let value = reader.boolean(field.value, "\(entry.path).accept_new") {
                route.acceptsNew = value
            }
            return route
        }
        if !clients.isEmpty, !clients.contains(where: { $0.acceptsNew && $0.protocols.contains(.torrent) }) {
            reader.error(
                at: node.location,
                "no client in \(what) takes new torrent downloads (accept_new: false on each that takes torrents): "
                    + "new downloads would fail; set accept_new: true on one")
        }
        return clients
    }

    /// pipeline.yaml's `library_backends`: a list of `{plugin}`.
    func decodeLibraryBackends(_ node: YAMLNode, declaredPlugins: [String], reader: ConfigurationNodeReader)
        -> [LibraryBackendRoute]
    {
        decodeListEntries(
            node, LibraryBackendRoute.listName, allowed: ["plugin"], noun: "backend", declaredPlugins: declaredPlugins,
            reader: reader
        ).map { LibraryBackendRoute(plugin: $0.plugin, location: $0.location) }
    }

    private func decodeProtocols(_ node: YAMLNode, _ what: String, reader: ConfigurationNodeReader) -> [DownloadProtocol] {
        let known = DownloadProtocol.allCases.map(\.rawValue).joined(separator: ", ")
        guard case .sequence(let items) = node.kind, !items.isEmpty else {
            reader.error(at: node.location, "\(what) must be a list of protocols (\(known)), found \(node.summary)")
            return [.torrent]
        }
        var protocols: [DownloadProtocol] = []
        for item in items {
            guard let text = reader.string(item, what) else { continue }
            guard let value = DownloadProtocol(rawValue: text) else {
                reader.error(at: item.location, "\(what): '\(text)' is not a protocol; write \(known)")
                continue
            }
            if !protocols.contains(value) { protocols.append(value) }
        }
        return protocols.isEmpty ? [.torrent] : protocols
    }
}
