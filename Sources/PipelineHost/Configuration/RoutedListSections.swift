extension ConfigurationLoader {
    static let downloadClientKeys = ["plugin", "protocols", "accept_new"]

    /// pipeline.yaml's `download_clients`: a list of `{plugin, protocols, accept_new}`.
    func decodeDownloadClients(_ node: YAMLNode, declaredPlugins: [String], reader: ConfigurationNodeReader)
        -> [DownloadClientRoute]
    {
        let what = DownloadClientRoute.listName
        guard case .sequence(let items) = node.kind else {
            reader.error(at: node.location, "\(what) must be a list of {plugin, protocols, accept_new}, found \(node.summary)")
            return []
        }
        if items.isEmpty { reader.error(at: node.location, "\(what) lists no client; name at least one, or leave the key out") }
        var clients: [DownloadClientRoute] = []
        for (index, item) in items.enumerated() {
            let entry = "\(what)[\(index)]"
            guard let fields = reader.mapping(item, entry, allowed: Self.downloadClientKeys) else { continue }
            let byName = Dictionary(fields.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
            guard let pluginField = byName["plugin"] else {
                reader.error(at: item.location, "\(entry) has no 'plugin': name the plugins entry of the client")
                continue
            }
            guard let plugin = reader.string(pluginField.value, "\(entry).plugin", allowEmpty: false) else { continue }
            guard declaredPlugins.contains(plugin) else {
                let hint = ConfigurationNodeReader.suggestion(for: plugin, among: declaredPlugins)
                reader.error(at: pluginField.value.location, "unknown plugin '\(plugin)' in \(entry).plugin\(hint)")
                continue
            }
            if let twin = clients.first(where: { $0.plugin == plugin }) {
                reader.error(
                    at: pluginField.value.location,
                    "\(entry): plugin '\(plugin)' is listed already (line \(twin.location.line)); list each instance once, "
                        + "and load a file twice under two plugin names for two instances")
                continue
            }
            var route = DownloadClientRoute(plugin: plugin, location: item.location)
            if let field = byName["protocols"] {
                route.protocols = decodeProtocols(field.value, "\(entry).protocols", reader: reader)
            }
            if let field = byName["accept_new"], let value = reader.boolean(field.value, "\(entry).accept_new") {
                route.acceptsNew = value
            }
            clients.append(route)
        }
        if !clients.isEmpty, !clients.contains(where: { $0.acceptsNew && $0.protocols.contains(.torrent) }) {
            reader.error(
                at: node.location,
                "no client in \(what) takes new torrent downloads (accept_new: false on each that takes torrents): "
                    + "new downloads would fail; set accept_new: true on one")
        }
        return clients
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

extension ConfigurationLoader {
    /// pipeline.yaml's `library_backends`: a list of `{plugin}`.
    func decodeLibraryBackends(_ node: YAMLNode, declaredPlugins: [String], reader: ConfigurationNodeReader)
        -> [LibraryBackendRoute]
    {
        let what = LibraryBackendRoute.listName
        guard case .sequence(let items) = node.kind else {
            reader.error(at: node.location, "\(what) must be a list of {plugin}, found \(node.summary)")
            return []
        }
        if items.isEmpty { reader.error(at: node.location, "\(what) lists no backend; name at least one, or leave the key out") }
        var backends: [LibraryBackendRoute] = []
        for (index, item) in items.enumerated() {
            let entry = "\(what)[\(index)]"
            guard let fields = reader.mapping(item, entry, allowed: ["plugin"]) else { continue }
            guard let pluginField = fields.first(where: { $0.name == "plugin" }) else {
                reader.error(at: item.location, "\(entry) has no 'plugin': name the plugins entry of the backend")
                continue
            }
            guard let plugin = reader.string(pluginField.value, "\(entry).plugin", allowEmpty: false) else { continue }
            guard declaredPlugins.contains(plugin) else {
                let hint = ConfigurationNodeReader.suggestion(for: plugin, among: declaredPlugins)
                reader.error(at: pluginField.value.location, "unknown plugin '\(plugin)' in \(entry).plugin\(hint)")
                continue
            }
            if let twin = backends.first(where: { $0.plugin == plugin }) {
                reader.error(
                    at: pluginField.value.location,
                    "\(entry): plugin '\(plugin)' is listed already (line \(twin.location.line)); list each instance once")
                continue
            }
            backends.append(LibraryBackendRoute(plugin: plugin, location: item.location))
        }
        return backends
    }
}
