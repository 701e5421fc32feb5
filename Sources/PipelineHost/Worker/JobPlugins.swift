import Foundation

/// The plugin instances that run one job type's jobs: the one plugin the job
/// type is bound to, or the instances of a list with a ``JobRouter`` that
/// chooses one per job.
struct JobPlugins: Sendable {
    /// The instances by pipeline.yaml name.
    let instances: [String: PluginInstance]
    /// Chooses among ``instances``; nil when the job type has one plugin.
    let router: (any JobRouter)?
    /// Each instance as the event log names it: `library (org.pipeline.library.plex 0.6.0, libLibraryPlex.so)`,
    /// made once rather than for every job.
    let labels: [String: String]

    /// The one plugin of a job type bound to it.
    init(_ instance: PluginInstance) {
        self.init(instances: [instance.name: instance], router: nil)
    }

    init(instances: [String: PluginInstance], router: (any JobRouter)?) {
        self.instances = instances
        self.router = router
        labels = instances.mapValues { instance in
            "\(instance.name) (\(instance.plugin.info.id) \(instance.plugin.info.version), \((instance.plugin.path as NSString).lastPathComponent))"
        }
    }

    /// Where a job runs: on one instance, or once on each of several.
    enum Choice {
        case instance(PluginInstance)
        case each([String])
    }

    /// Where a job of `jobType` with `payloadJSON` runs.
    func choose(forJobType jobType: String, payloadJSON: String) -> Result<Choice, JobRouteRefusal> {
        guard let router else {
            guard let only = instances.values.first else { return .failure(JobRouteRefusal("no plugin runs this job type")) }
            return .success(.instance(only))
        }
        switch router.route(jobType: jobType, payloadJSON: payloadJSON) {
        case .success(.instance(let name)):
            guard let instance = instances[name] else {
                return .failure(JobRouteRefusal("the router chose '\(name)', which this host does not run"))
            }
            return .success(.instance(instance))
        case .success(.each(let names)):
            return .success(.each(names))
        case .failure(let refusal):
            return .failure(refusal)
        }
    }
}
