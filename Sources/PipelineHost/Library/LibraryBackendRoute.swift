import Foundation
import PipelineJSON

/// One entry of pipeline.yaml's `library_backends` list: a plugin instance
/// whose library is read and matched against the requests. A request that a
/// book in any of them matches becomes `available`.
public struct LibraryBackendRoute: Sendable, Equatable {
    /// The name of the list, as a job type's `plugin:` writes it to run on each backend.
    public static let listName = "library_backends"

    /// The `plugins` entry: the instance's name.
    public var plugin: String
    /// Where the entry is written.
    public var location: SourceLocation

    public init(plugin: String, location: SourceLocation = SourceLocation(line: 0, column: 0)) {
        self.plugin = plugin
        self.location = location
    }

    public static func == (lhs: LibraryBackendRoute, rhs: LibraryBackendRoute) -> Bool { lhs.plugin == rhs.plugin }
}

/// Routes the library jobs over `library_backends`:
///
/// - a job whose payload names `library_instance` runs on that instance;
/// - any other job (a schedule's, an import's request for a scan, another
///   producer's) runs once on each backend: the host completes it by adding
///   one job per backend, each marked with its instance.
///
/// What a backend reports is kept under its instance's name
/// (`library_items.backend`), so two servers of one kind never remove each
/// other's books; the jobs a library job asks for stay on its instance.
public struct LibraryRouter: JobRouter {
    /// The payload member that names the instance.
    public static let instanceKey = "library_instance"

    public let backends: [LibraryBackendRoute]
    /// The job types bound to `library_backends`.
    public let jobTypes: Set<String>

    public init(backends: [LibraryBackendRoute], jobTypes: Set<String>) {
        self.backends = backends
        self.jobTypes = jobTypes
    }

    public var instances: [String] { backends.map(\.plugin) }

    public func route(jobType: String, payloadJSON: String) -> Result<JobRoute, JobRouteRefusal> {
        guard let payload = RoutedPayload.object(payloadJSON) else {
            return .failure(JobRouteRefusal("the payload is not a JSON object, so no library backend can be chosen for it"))
        }
        guard let named = payload[Self.instanceKey] else { return .success(.each(instances)) }
        guard let name = named.stringValue, instances.contains(name) else {
            return .failure(JobRouteRefusal(
                "this job is for library backend \(named.stringValue.map { "'\($0)'" } ?? "\(named)"), which library_backends "
                    + "does not list: nothing to do (the other backends have jobs of their own)"))
        }
        return .success(.instance(name))
    }

    public func mark(payloadJSON: String, ofJobType jobType: String, for instance: String) -> String {
        jobTypes.contains(jobType) ? RoutedPayload.marking(payloadJSON, Self.instanceKey, with: instance) : payloadJSON
    }

    public func mark(transitionDetailsJSON: String?, for instance: String) -> String? { transitionDetailsJSON }

    public func mark(libraryBackend backend: String, for instance: String) -> String { instance }
}
