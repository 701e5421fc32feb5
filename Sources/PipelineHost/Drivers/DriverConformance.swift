import DriverJobs
import Foundation
import Logging
import PipelineJSON
import PluginABI

/// The conformance checks a driver must pass against a live service:
/// `pipeline-host plugin test FILE --kind … --config JSON`. Third parties run
/// it against their own file; the project's own drivers pass it in CI.
///
/// Each check calls the driver's table directly, as the host's jobs do, and
/// says what to fix when the driver answers otherwise than the ABI asks.
public enum DriverConformance {
    /// Which interface to check.
    public enum Kind: String, Sendable, CaseIterable {
        case downloadClient = "download-client"
        case libraryBackend = "library-backend"
    }

    /// One check's outcome.
    public struct Check: Sendable, Encodable, Equatable {
        public var name: String
        public var passed: Bool
        /// What was seen; for a failure, what to fix.
        public var detail: String
    }

    /// The configs the suite starts the driver with.
    public struct Configs: Sendable {
        /// The working config.
        public var working: String
        /// One with wrong credentials; nil: `working` with its "password"
        /// (download client) or "token" (library backend) replaced.
        public var wrongCredentials: String?
        /// One that points at a stopped service; nil: `working` with its
        /// "url" pointed at a loopback port nothing listens on.
        public var stopped: String?

        public init(working: String, wrongCredentials: String? = nil, stopped: String? = nil) {
            self.working = working
            self.wrongCredentials = wrongCredentials
            self.stopped = stopped
        }
    }

    /// Runs every check of `kind` against `plugin` (loaded in this process).
    public static func run(plugin: LoadedPlugin, kind: Kind, configs: Configs, logger: Logger) async -> [Check] {
        let executor = BlockingExecutor(threads: 1)
        let result = await executor.run {
            var suite = Suite(plugin: plugin, kind: kind, configs: configs, logger: logger)
            suite.runAll()
            return suite.checks
        }
        await executor.shutdown()
        guard let checks = result else {
            return [Check(name: "run", passed: false, detail: "the suite could not run")]
        }
        return checks
    }

    /// The suite's state while it runs, on one worker thread.
    struct Suite {
        let plugin: LoadedPlugin
        let kind: Kind
        let configs: Configs
        let logger: Logger
        var checks: [Check] = []

        mutating func record(_ name: String, _ passed: Bool, _ detail: String) {
            checks.append(Check(name: name, passed: passed, detail: detail))
        }

        mutating func runAll() {
            let interfaces = plugin.info.interfaces
            switch kind {
            case .downloadClient:
                guard let interface = interfaces.downloadClient else {
                    record("offers the interface", false, "the plugin offers no download-client table: return one from get_extension(PP_EXTENSION_DOWNLOAD_CLIENT)")
                    return
                }
                record("offers the interface", true, "download client '\(interface.kind)' (\(interface.protocols.joined(separator: ", ")))")
                guard let instance = start(configs.working, "the working config") else { return }
                defer { instance.shutdownIfIdle() }
                checkDownloadClient(instance, displayName: interface.displayName)
                runFailureChecks(credentialKey: "password")
            case .libraryBackend:
                guard let interface = interfaces.libraryBackend else {
                    record("offers the interface", false, "the plugin offers no library-backend table: return one from get_extension(PP_EXTENSION_LIBRARY_BACKEND)")
                    return
                }
                record("offers the interface", true, "library backend '\(interface.kind)'")
                guard let instance = start(configs.working, "the working config") else { return }
                defer { instance.shutdownIfIdle() }
                checkLibraryBackend(instance, displayName: interface.displayName)
                runFailureChecks(credentialKey: "token")
            }
        }

        /// Starts an instance with `config`, recording a failure to start.
        mutating func start(_ config: String, _ what: String) -> PluginInstance? {
            do {
                return try plugin.start(name: "conformance", configJSON: config, configSource: what, logger: logger)
            } catch {
                record("starts with \(what)", false, "\(error)")
                return nil
            }
        }

        /// Wrong credentials must give PP_DRIVER_PERMANENT; a stopped service PP_DRIVER_TRANSIENT.
        mutating func runFailureChecks(credentialKey: String) {
            let wrong = configs.wrongCredentials ?? Self.replacing(credentialKey, in: configs.working, with: "wrong-\(UUID().uuidString.prefix(8))")
            if let wrong {
                expectTestStatus(
                    config: wrong, name: "wrong credentials give a permanent error", expected: PP_DRIVER_PERMANENT,
                    why: "a refused \(credentialKey) will not work until someone changes the config: return PP_DRIVER_PERMANENT, and say which setting in set_error")
            } else {
                record(
                    "wrong credentials give a permanent error", false,
                    "the config has no \"\(credentialKey)\" to get wrong: give --wrong-credentials-config")
            }
            let stopped = configs.stopped ?? Self.replacing("url", in: configs.working, with: "http://127.0.0.1:\(Self.closedPort())")
            if let stopped {
                expectTestStatus(
                    config: stopped, name: "a stopped service gives a transient error", expected: PP_DRIVER_TRANSIENT,
                    why: "a service that does not answer may come back: return PP_DRIVER_TRANSIENT, so that the host retries")
            } else {
                record("a stopped service gives a transient error", false, "the config has no \"url\" to point elsewhere: give --stopped-config")
            }
        }

        mutating func expectTestStatus(config: String, name: String, expected: pp_driver_status, why: String) {
            guard let instance = start(config, "the config of '\(name)'") else { return }
            defer { instance.shutdownIfIdle() }
            guard let (tables, makeBinding) = instance.driverBinding() else { return }
            let binding = makeBinding("the driver")
            let (status, message, _) = binding.invoke("test") { handle in
                if let table = tables.downloadClient, kind == .downloadClient { return table.test!(binding.state, handle) }
                return tables.libraryBackend!.test!(binding.state, handle)
            }
            record(
                name, status == expected,
                status == expected ? "\(Self.statusName(status)): \(message)"
                    : status == PP_DRIVER_OK ? "test returned PP_DRIVER_OK; \(why)"
                    : "test returned \(Self.statusName(status)) (\(message)); \(why)")
        }

        static func replacing(_ key: String, in config: String, with value: String) -> String? {
            guard case .object(var members)? = JSONValue(jsonText: config), members[key] != nil else { return nil }
            members[key] = .string(value)
            return JSONValue.object(members).jsonText
        }

        /// A loopback port nothing listens on (bound, read, closed).
        static func closedPort() -> Int {
            let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(socket) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) }
            }
            _ = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) }
            }
            return Int(UInt16(bigEndian: address.sin_port))
        }

        static func statusName(_ status: pp_driver_status) -> String {
            switch status {
            case PP_DRIVER_OK: "PP_DRIVER_OK"
            case PP_DRIVER_TRANSIENT: "PP_DRIVER_TRANSIENT"
            case PP_DRIVER_PERMANENT: "PP_DRIVER_PERMANENT"
            case PP_DRIVER_REJECTED: "PP_DRIVER_REJECTED"
            default: "\(status) (not a PP_DRIVER_* status)"
            }
        }
    }
}
