import Foundation
import PipelineHost

/// A real `pipeline-host run` process with the C echo fixture as plugin
/// `probe`, the given job types, its admin API on a port of its own, and
/// Redis and PostgreSQL of the test's own: for the drills that must show the
/// host still serving after an input meant to stop it.
final class HostedPipeline: @unchecked Sendable {
    let stores: HostProcessStores
    let host: HostProcess
    let adminPort: Int
    let token = "admin-\(UUID().uuidString.lowercased())"
    let file: String

    /// - Parameters:
    ///   - jobs: the `jobs:` members (YAML), indented by two spaces.
    ///   - admin: more members of `admin:` (YAML flow), such as `idle_timeout: 1s`.
    ///   - plugin: the probe's file (the C echo fixture unless given).
    ///   - isolation: the probe's `isolation` (`process`, the default, or `none`).
    init(
        jobs: String, queue: String = "", admin: String = "", plugin: String = "libFixtureCEcho.so", isolation: String = "process",
        pluginOptions: String = ""
    ) async throws {
        stores = try await HostProcessStores()
        adminPort = try RedisServer.freePort()
        file = try stores.directory.write(
            "pipeline.yaml",
            """
            \(stores.storesYAML)
            queue: {drain_delay: 1s\(queue.isEmpty ? "" : ", " + queue)}
            admin: {listen: "127.0.0.1:\(adminPort)", token: \(token)\(admin.isEmpty ? "" : ", " + admin)}
            plugins:
              probe: {path: "\(plugin)", isolation: \(isolation)\(pluginOptions.isEmpty ? "" : ", " + pluginOptions)}
            jobs:
            \(jobs)
            """)
        host = try HostProcess(config: file, hostID: "hardened", directory: stores.directory)
        let port = adminPort
        try await eventually("the admin answers", timeout: .seconds(60)) {
            (try? await rawRequest(port: port, "GET", "/healthz").status) == 200
        }
        try await stores.waitForSchema()
    }

    /// A queue client for `jobType`.
    func queue(_ jobType: String) throws -> JobQueue { try stores.queue(jobType) }

    /// GET or POST through the admin with the bearer token.
    func api(_ method: String, _ path: String, body: String = "") async throws -> RawResponse {
        try await rawRequest(
            port: adminPort, method, path, headers: ["Authorization": "Bearer \(token)", "Content-Type": "application/json"], body: body)
    }

    /// Signs in to the admin page and returns the session cookie (`name=value`).
    func signIn(next: String = "/admin/requests") async throws -> (cookie: String, location: String) {
        let form = "token=\(token)&next=\(next.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? next)"
        let answer = try await rawRequest(
            port: adminPort, "POST", "/admin/login", headers: ["Content-Type": "application/x-www-form-urlencoded"], body: form)
        guard answer.status == 303, let cookie = answer.headers["set-cookie"]?.split(separator: ";").first else {
            throw TestFailure("sign-in failed: \(answer.status) \(answer.body.prefix(200))")
        }
        return (String(cookie), answer.headers["location"] ?? "")
    }

    /// Whether the host process still runs and its admin answers.
    func isServing() async -> Bool {
        guard host.child.isRunning else { return false }
        return (try? await rawRequest(port: adminPort, "GET", "/healthz").status) == 200
    }

    /// Adds a probe job of `jobType` and waits until it completes: the host's
    /// other work goes on.
    func completesAJob(of jobType: String) async throws {
        let queue = try queue(jobType)
        let id = try await queue.add(dataJSON: #"{"mode":"probe"}"#)
        try await eventually("a \(jobType) job completes", timeout: .seconds(30)) { try await queue.job(id)?.state == .completed }
    }

    func stop() async throws {
        host.terminate()
        _ = try await host.exitCode()
    }
}
