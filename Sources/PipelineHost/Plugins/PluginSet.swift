/// The plugins of one configuration, each job type claimed by exactly one.
public struct PluginSet: Sendable {
    /// The plugins in the order they were added, with their pipeline.yaml names.
    public private(set) var members: [(name: String, plugin: LoadedPlugin)] = []

    public init() {}

    /// Adds `plugin` under `name`.
    ///
    /// - Throws: ``PluginLoadError`` with code `duplicateJobType` when one of
    ///   its job types is claimed by a plugin already in the set.
    public mutating func add(_ plugin: LoadedPlugin, as name: String) throws(PluginLoadError) {
        for jobType in plugin.info.jobTypes {
            if let owner = members.first(where: { $0.plugin.info.jobTypes.contains(jobType) }) {
                throw PluginLoadError(
                    .duplicateJobType, path: plugin.path,
                    problem: "it claims job type '\(jobType)', which plugin '\(owner.name)' (\(owner.plugin.path), "
                        + "\(owner.plugin.info.id)) claims too",
                    fix: "each job type needs exactly one plugin: keep one of them in pipeline.yaml's plugins")
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
