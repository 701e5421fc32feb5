/// The plugins of one configuration, each job type claimed by exactly one,
/// except among the instances of a routed list (`download_clients`), which
/// all claim the job types routed over them.
public struct PluginSet: Sendable {
    /// The plugins in the order they were added, with their pipeline.yaml names.
    public private(set) var members: [(name: String, plugin: LoadedPlugin)] = []

    public init() {}

    /// Adds `plugin` under `name`.
    ///
    /// - Parameter sharers: the instances that may claim the same job types
    ///   (the members of `download_clients`).
    /// - Throws: ``PluginLoadError`` with code `duplicateJobType` when one of
    ///   its job types is claimed by a plugin already in the set, unless both
    ///   are among `sharers`.
    public mutating func add(_ plugin: LoadedPlugin, as name: String, sharers: Set<String> = []) throws(PluginLoadError) {
        for jobType in plugin.info.jobTypes {
            if let owner = members.first(where: {
                $0.plugin.info.jobTypes.contains(jobType) && !(sharers.contains($0.name) && sharers.contains(name))
            }) {
                throw PluginLoadError(
                    .duplicateJobType, path: plugin.path,
                    problem: "it claims job type '\(jobType)', which plugin '\(owner.name)' (\(owner.plugin.path), "
                        + "\(owner.plugin.info.id)) claims too",
                    fix: "each job type needs exactly one plugin: keep one of them in pipeline.yaml's plugins, or list both "
                        + "under download_clients and bind the job type to download_clients")
            }
        }
        members.append((name, plugin))
    }

    /// The plugin named `name` in pipeline.yaml.
    public func plugin(named name: String) -> LoadedPlugin? {
        members.first { $0.name == name }?.plugin
    }

    /// The plugin that claims `jobType`.
    public func plugin(forJobType jobType: String) -> (name: String, plugin: LoadedPlugin)? {
        members.first { $0.plugin.info.jobTypes.contains(jobType) }
    }
}
