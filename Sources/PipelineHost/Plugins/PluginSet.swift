/// The plugins of one configuration, each job type claimed by exactly one,
/// except among the instances of a routed list (`download_clients`), which
/// all claim the job types routed over them.
public struct PluginSet: Sendable {
    /// The plugins in the order they were added, with their pipeline.yaml names.
    public private(set) var members: [(name: String, plugin: LoadedPlugin)] = []

    public init() {}

    /// Adds `plugin` under `name`.
    ///
    /// - Parameter sharing: groups of instances that may claim the same job
    ///   types (the members of `download_clients`, those of `library_backends`).
    /// - Throws: ``PluginLoadError`` with code `duplicateJobType` when one of
    ///   its job types is claimed by a plugin already in the set, unless both
    ///   are in one group of `sharing`.
    public mutating func add(_ plugin: LoadedPlugin, as name: String, sharing: [Set<String>] = []) throws(PluginLoadError) {
        for jobType in plugin.info.jobTypes {
            if let owner = members.first(where: { owner in
                owner.plugin.info.jobTypes.contains(jobType)
                    && !sharing.contains { $0.contains(owner.name) && $0.contains(name) }
            }) {
                throw PluginLoadError(
                    .duplicateJobType, path: plugin.path,
                    problem: "it claims job type '\(jobType)', which plugin '\(owner.name)' (\(owner.plugin.path), "
                        + "\(owner.plugin.info.id)) claims too",
                    fix: "each job type needs exactly one plugin: keep one of them in pipeline.yaml's plugins, or list both "
                        + "under download_clients (or library_backends) and bind the job type to that list")
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
