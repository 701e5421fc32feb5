import PluginABI

/// How the kits' C interface tables run a Swift driver's call: find the
/// plugin behind `state`, run the body on the calling worker thread, and
/// answer through the host's services (set_result, or set_error and a
/// PP_DRIVER_* status).
package enum DriverCallBridge {
    /// - Parameters:
    ///   - driver: picks the driver out of the plugin; nil if the plugin has none.
    ///   - classify: the PP_DRIVER_* status and message for an error the body threw.
    package static func run<Driver: Sendable>(
        state: UnsafeMutableRawPointer?, call: OpaquePointer?, driver: (any PipelinePlugin) -> Driver?,
        classify: @escaping @Sendable (any Error) -> (pp_driver_status, String),
        _ body: @escaping @Sendable (Driver) async throws -> JSONValue
    ) -> pp_driver_status {
        guard let call, let (plugin, api) = PluginExport.instance(state), let driver = driver(plugin) else { return PP_DRIVER_PERMANENT }
        let context = JobContext(api: api, call: call)
        let result: Result<JSONValue, any Error> = runBlocking(isCancelled: { context.isCancelled }) {
            do {
                return .success(try await body(driver))
            } catch {
                return .failure(error)
            }
        }
        switch result {
        case .success(let value):
            _ = api.pointee.set_result(call, (try? JSONCoding.encode(value)) ?? "null")
            return PP_DRIVER_OK
        case .failure(let error):
            let (status, message) = classify(error)
            _ = api.pointee.set_error(call, message, nil)
            return status
        }
    }
}
