import Foundation

/// Reads pipeline.yaml into a ``PipelineConfiguration``, reporting every
/// problem as `FILE:LINE:COLUMN: message`.
///
/// This checks the file on its own. ``PipelineValidator`` goes on to load
/// the plugins it names and check the job types against them.
public struct ConfigurationLoader: Sendable {
    /// The variables `${VAR}` reads.
    public var environment: [String: String]
    /// Where relative plugin paths are resolved when neither `plugin_dir`
    /// nor `PIPELINE_PLUGIN_DIR` says.
    public var defaultPluginDirectory: String

    static let topLevelKeys = ["version", "plugin_dir", "defaults", "redis", "postgres", "admin", "queue", "plugins", "download_clients", "library_backends", "jobs"]
    static let jobSettingKeys = ["concurrency", "priority", "attempts", "backoff", "timeout", "retention", "delay"]
    static let jobKeys = ["plugin"] + jobSettingKeys + ["schedule"]

    public init(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        defaultPluginDirectory: String = ProductsDirectory.pluginDirectory
    ) {
        self.environment = environment
        self.defaultPluginDirectory = defaultPluginDirectory
    }

    /// Reads and checks the file at `path`.
    ///
    /// - Throws: ``DiagnosticsError`` with every problem found.
    public func load(file path: String) throws(DiagnosticsError) -> PipelineConfiguration {
        let (configuration, diagnostics) = loadCollecting(file: path)
        guard let configuration, diagnostics.isEmpty else { throw DiagnosticsError(diagnostics) }
        return configuration
    }

    /// Reads and checks `bytes`, naming `file` in diagnostics.
    ///
    /// - Throws: ``DiagnosticsError`` with every problem found.
    public func load(bytes: [UInt8], file: String) throws(DiagnosticsError) -> PipelineConfiguration {
        let (configuration, diagnostics) = loadCollecting(bytes: bytes, file: file)
        guard let configuration, diagnostics.isEmpty else { throw DiagnosticsError(diagnostics) }
        return configuration
    }

    /// The file's problems, and as much of the configuration as could be read
    /// despite them (`nil` when not even its shape could), so that a caller
    /// can go on to check the plugins it names.
    func loadCollecting(file path: String) -> (PipelineConfiguration?, [Diagnostic]) {
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot be read" : "does not exist"
            let message = "the configuration file \(reason); pass --config FILE or set PIPELINE_CONFIG"
            return (nil, [Diagnostic(file: path, location: .start, message: message)])
        }
        return loadCollecting(bytes: Array(data), file: path)
    }

    func loadCollecting(bytes: [UInt8], file: String) -> (PipelineConfiguration?, [Diagnostic]) {
        let root: YAMLNode?
        do {
            root = try YAMLParser(file: file).parse(bytes)
        } catch {
            return (nil, error.diagnostics)
        }
        guard let root, !root.isNull else {
            let message =
                "the configuration is empty: expected a mapping with 'plugins' and 'jobs' (see docs/configuration.md)"
            return (nil, [Diagnostic(file: file, location: .start, message: message)])
        }
        let reader = ConfigurationNodeReader(file: file, substitution: EnvironmentSubstitution(environment: environment))
        let configuration = decode(root, file: file, reader: reader)
        return (configuration, reader.diagnostics)
    }

    // MARK: - Decoding

    private func decode(_ root: YAMLNode, file: String, reader: ConfigurationNodeReader) -> PipelineConfiguration? {
        guard let entries = reader.mapping(root, "the configuration", allowed: Self.topLevelKeys) else { return nil }
        let top = Dictionary(entries.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
        for required in ["plugins", "jobs"] where top[required] == nil {
            reader.error(at: root.location, "missing key '\(required)' at the top level (see docs/configuration.md)")
        }
        if let version = top["version"], let number = reader.integer(version, "version", in: 0...Int.max), number != 1 {
            reader.error(at: version.location, "version \(number) is not known to this host; it reads version 1")
        }

        let fileDirectory = (file as NSString).deletingLastPathComponent
        var pluginDirectory = environment["PIPELINE_PLUGIN_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? defaultPluginDirectory
        if let node = top["plugin_dir"], let value = reader.string(node, "plugin_dir"), !value.isEmpty {
            pluginDirectory = Self.absolute(value, relativeTo: fileDirectory)
        }

        var defaults = JobDefaults()
        if let node = top["defaults"], let fields = reader.mapping(node, "defaults", allowed: Self.jobSettingKeys) {
            for field in fields {
                decodeJobSetting(field.name, field.value, into: &defaults, context: "defaults", reader: reader)
            }
        }

        let redis = decodeRedis(top["redis"], reader: reader)
        let postgres = decodePostgres(top["postgres"], reader: reader)
        let admin = decodeAdmin(top["admin"], reader: reader)
        let queue = decodeQueue(top["queue"], reader: reader)
        let plugins = top["plugins"].map { decodePlugins($0, directory: pluginDirectory, reader: reader) } ?? []
        // Job types may bind to any plugin entry written, even one with a
        // problem of its own (already reported), so that it is not reported twice.
        var declared: [String] = []
        if let node = top["plugins"], case .mapping(let entries) = node.kind {
            declared = entries.compactMap { $0.key.scalar }
        }
        let downloadClients = top["download_clients"].map { decodeDownloadClients($0, declaredPlugins: declared, reader: reader) } ?? []
        if top["download_clients"] != nil { declared.append(DownloadClientRoute.listName) }
        let libraryBackends =
            top["library_backends"].map {
                decodeLibraryBackends($0, declaredPlugins: declared.filter { $0 != DownloadClientRoute.listName }, reader: reader)
            } ?? []
        if top["library_backends"] != nil { declared.append(LibraryBackendRoute.listName) }
        let jobs =
            top["jobs"].map { decodeJobs($0, defaults: defaults, declaredPlugins: declared, reader: reader) } ?? []
        // Each slot is a thread of its own: keep the sum within what a host may start.
        let threads = jobs.reduce(0) { $0 + $1.concurrency }
        if threads > JobLimits.maximumTotalConcurrency, let node = top["jobs"] {
            reader.error(
                at: node.location,
                "the job types' concurrency adds up to \(threads); a host runs at most \(JobLimits.maximumTotalConcurrency) "
                    + "jobs at once (a thread each): lower some, and run more hosts instead")
        }

        return PipelineConfiguration(
            file: file, pluginDirectory: pluginDirectory, defaults: defaults, redis: redis, postgres: postgres,
            admin: admin, queue: queue, plugins: plugins, jobs: jobs, downloadClients: downloadClients,
            libraryBackends: libraryBackends)
    }

    private func decodePlugins(_ node: YAMLNode, directory: String, reader: ConfigurationNodeReader) -> [PluginEntry] {
        guard let entries = reader.mapping(node, "plugins") else { return [] }
        if entries.isEmpty { reader.error(at: node.location, "'plugins' lists no plugin; name at least one") }
        var plugins: [PluginEntry] = []
        for entry in entries {
            let what = "plugins.\(entry.name)"
            if entry.name == DownloadClientRoute.listName || entry.name == LibraryBackendRoute.listName {
                reader.error(at: entry.key.location, "'\(entry.name)' names a list of plugins; give the plugin another name")
            }
            if !Self.isValidName(entry.name, allowDots: false) {
                reader.error(at: entry.key.location, "plugin name '\(entry.name)' may hold only letters, digits, '_' and '-'")
            }
            guard let fields = reader.mapping(entry.value, what, allowed: ["path", "config", "isolation", "max_memory", "max_crashes"])
            else { continue }
            let byName = Dictionary(fields.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
            let isolation = decodeIsolation(byName, what: what, reader: reader)
            var configJSON = "{}"
            var configLocation = entry.key.location
            if let config = byName["config"] {
                configLocation = config.key.location
                if case .mapping = config.value.kind {
                    configJSON = reader.json(config.value, "\(what).config") ?? "{}"
                } else if !config.value.isNull {
                    reader.error(at: config.value.location, "\(what).config must be a mapping, found \(config.value.summary)")
                }
            }
            guard let pathField = byName["path"] else {
                reader.error(at: entry.value.location, "\(what) has no 'path': name the plugin's .so file")
                continue
            }
            guard let rawPath = reader.string(pathField.value, "\(what).path", allowEmpty: false) else { continue }
            if !rawPath.hasPrefix("/"), rawPath.split(separator: "/").contains("..") {
                reader.error(
                    at: pathField.value.location,
                    "\(what).path '\(rawPath)' leaves the plugin directory; give an absolute path to load a file "
                        + "from elsewhere")
                continue
            }
            let path = Self.absolute(rawPath, relativeTo: directory)
            plugins.append(
                PluginEntry(
                    name: entry.name, path: path, configJSON: configJSON, isolation: isolation, location: entry.key.location,
                    pathLocation: pathField.value.location, configLocation: configLocation))
        }
        return plugins
    }

    /// A plugin entry's `isolation` (`process`, the default, or `none`),
    /// `max_memory` (a size such as `512MB`) and `max_crashes` (1 to 100).
    private func decodeIsolation(
        _ fields: [String: (name: String, key: YAMLNode, value: YAMLNode)], what: String, reader: ConfigurationNodeReader
    ) -> PluginIsolation {
        var inProcess = false
        if let field = fields["isolation"], let text = reader.string(field.value, "\(what).isolation") {
            switch text {
            case "process": inProcess = false
            case "none": inProcess = true
            default: reader.error(at: field.value.location, "\(what).isolation must be process (a runner process of its own) or none (in the host), found '\(text)'")
            }
        }
        var maxMemory: Int64?
        if let field = fields["max_memory"], let text = reader.string(field.value, "\(what).max_memory") {
            switch ByteSize.parse(text) {
            case .success(let bytes) where bytes >= 16 << 20: maxMemory = bytes
            case .success: reader.error(at: field.value.location, "\(what).max_memory must be at least 16MB, found '\(text)'")
            case .failure(let error): reader.error(at: field.value.location, "\(what).max_memory: \(error)")
            }
            if inProcess {
                reader.error(at: field.value.location, "\(what).max_memory needs isolation: process (a plugin in the host shares its memory)")
            }
        }
        var isolation = inProcess ? PluginIsolation.inProcess : PluginIsolation(mode: .process(.init(maxMemory: maxMemory)))
        if let field = fields["max_crashes"], let value = reader.integer(field.value, "\(what).max_crashes", in: 1...100) {
            isolation.maxCrashes = value
        }
        return isolation
    }

    private func decodeJobs(
        _ node: YAMLNode, defaults: JobDefaults, declaredPlugins: [String], reader: ConfigurationNodeReader
    ) -> [JobTypeConfiguration] {
        guard let entries = reader.mapping(node, "jobs") else { return [] }
        if entries.isEmpty { reader.error(at: node.location, "'jobs' lists no job type; name at least one") }
        var jobs: [JobTypeConfiguration] = []
        for entry in entries {
            let what = "jobs.\(entry.name)"
            if !Self.isValidName(entry.name, allowDots: true) {
                reader.error(
                    at: entry.key.location,
                    "job type '\(entry.name)' may hold only letters, digits, '_', '-' and '.' (it names a Redis queue)")
            }
            guard let fields = reader.mapping(entry.value, what, allowed: Self.jobKeys) else { continue }
            var settings = defaults
            var pluginName: String?
            var pluginLocation = entry.key.location
            var schedule: JobSchedule?
            for field in fields {
                switch field.name {
                case "plugin":
                    pluginLocation = field.value.location
                    pluginName = reader.string(field.value, "\(what).plugin", allowEmpty: false)
                    if let name = pluginName, !declaredPlugins.contains(name) {
                        let known = declaredPlugins
                        let hint =
                            known.isEmpty
                            ? "; add it under 'plugins'"
                            : ConfigurationNodeReader.suggestion(for: name, among: known)
                        reader.error(at: field.value.location, "unknown plugin '\(name)' in \(what).plugin\(hint)")
                        pluginName = nil
                    }
                case "schedule":
                    schedule = decodeSchedule(field.value, "\(what).schedule", reader: reader)
                default:
                    decodeJobSetting(field.name, field.value, into: &settings, context: what, reader: reader)
                }
            }
            guard let pluginName else {
                if !fields.contains(where: { $0.name == "plugin" }) {
                    reader.error(at: entry.key.location, "\(what) has no 'plugin': name the plugin entry that runs it")
                }
                continue
            }
            jobs.append(
                JobTypeConfiguration(
                    name: entry.name, plugin: pluginName, concurrency: settings.concurrency, priority: settings.priority,
                    attempts: settings.attempts, backoff: settings.backoff, timeout: settings.timeout,
                    retention: settings.retention, delay: settings.delay, schedule: schedule,
                    location: entry.key.location, pluginLocation: pluginLocation))
        }
        return jobs
    }

    /// One of the settings that `defaults` and each job type share.
    private func decodeJobSetting(
        _ name: String, _ node: YAMLNode, into settings: inout JobDefaults, context: String,
        reader: ConfigurationNodeReader
    ) {
        let what = "\(context).\(name)"
        switch name {
        case "concurrency":
            if let value = reader.integer(node, what, in: 0...JobLimits.maximumConcurrency) { settings.concurrency = value }
        case "attempts":
            if let value = reader.integer(node, what, in: 1...1_000) { settings.attempts = value }
        case "priority":
            if let value = decodePriority(node, what, reader: reader) { settings.priority = value }
        case "timeout":
            if let value = reader.duration(node, what) {
                if value <= .zero {
                    reader.error(at: node.location, "\(what) must be longer than 0s")
                } else {
                    settings.timeout = value
                }
            }
        case "delay":
            if let value = reader.duration(node, what) { settings.delay = value }
        case "backoff":
            if let value = decodeBackoff(node, what, base: settings.backoff, reader: reader) { settings.backoff = value }
        case "retention":
            if let value = decodeRetention(node, what, base: settings.retention, reader: reader) {
                settings.retention = value
            }
        default:
            break
        }
    }

    private func decodePriority(_ node: YAMLNode, _ what: String, reader: ConfigurationNodeReader) -> JobPriority? {
        guard let text = reader.text(node, what) else { return nil }
        if let level = JobPriority.levels.first(where: { $0.name == text.lowercased() }) {
            return JobPriority(value: level.value)
        }
        if text.lowercased() == "none" { return JobPriority.none }
        guard let number = Int(text), (0...JobPriority.maximum).contains(number) else {
            let names = (["none"] + JobPriority.levels.map(\.name)).joined(separator: ", ")
            reader.error(
                at: node.location,
                "\(what) must be \(names), or a number from 0 to \(JobPriority.maximum) (lower is more urgent), "
                    + "found '\(text)'")
            return nil
        }
        return JobPriority(value: number)
    }

    private func decodeBackoff(_ node: YAMLNode, _ what: String, base: Backoff, reader: ConfigurationNodeReader)
        -> Backoff?
    {
        guard let fields = reader.mapping(node, what, allowed: ["type", "delay", "jitter", "max"]) else { return nil }
        var backoff = base
        for field in fields {
            switch field.name {
            case "type":
                guard let text = reader.text(field.value, "\(what).type") else { continue }
                if let strategy = Backoff.Strategy(rawValue: text) {
                    backoff.strategy = strategy
                } else {
                    reader.error(at: field.value.location, "\(what).type must be fixed or exponential, found '\(text)'")
                }
            case "delay":
                if let value = reader.duration(field.value, "\(what).delay") { backoff.delay = value }
            case "jitter":
                if let value = reader.number(field.value, "\(what).jitter", in: 0...1) { backoff.jitter = value }
            case "max":
                if let value = reader.duration(field.value, "\(what).max") { backoff.limit = value }
            default:
                break
            }
        }
        return backoff
    }

    private func decodeRetention(_ node: YAMLNode, _ what: String, base: Retention, reader: ConfigurationNodeReader)
        -> Retention?
    {
        guard let fields = reader.mapping(node, what, allowed: ["completed", "failed"]) else { return nil }
        var retention = base
        for field in fields {
            let fieldWhat = "\(what).\(field.name)"
            let rule: RetentionRule?
            if case .mapping = field.value.kind {
                var value = RetentionRule()
                for part in reader.mapping(field.value, fieldWhat, allowed: ["count", "age"]) ?? [] {
                    if part.name == "count" {
                        value.count = reader.integer(part.value, "\(fieldWhat).count", in: 0...Int(JobLimits.maximumRetentionCount))
                    } else {
                        value.age = reader.duration(part.value, "\(fieldWhat).age")
                    }
                }
                rule = value
            } else if field.value.scalar == "all" {
                rule = RetentionRule()
            } else {
                rule = reader.integer(field.value, fieldWhat, in: 0...Int(JobLimits.maximumRetentionCount)).map { RetentionRule(count: $0) }
            }
            guard let rule else { continue }
            if field.name == "completed" { retention.completed = rule } else { retention.failed = rule }
        }
        return retention
    }

    private func decodeSchedule(_ node: YAMLNode, _ what: String, reader: ConfigurationNodeReader) -> JobSchedule? {
        if case .scalar = node.kind {
            guard let text = reader.text(node, what) else { return nil }
            return cron(text, at: node.location, what, reader: reader).map {
                JobSchedule(trigger: .cron($0), enabled: true, payloadJSON: "{}")
            }
        }
        guard let fields = reader.mapping(node, what, allowed: ["cron", "every", "enabled", "payload"]) else {
            return nil
        }
        var trigger: JobSchedule.Trigger?
        var triggers = 0
        var enabled = true
        var payloadJSON = "{}"
        for field in fields {
            switch field.name {
            case "cron":
                triggers += 1
                if let text = reader.text(field.value, "\(what).cron"),
                    let expression = cron(text, at: field.value.location, "\(what).cron", reader: reader)
                {
                    trigger = .cron(expression)
                }
            case "every":
                triggers += 1
                if let interval = reader.duration(field.value, "\(what).every") {
                    if interval < .seconds(1) {
                        reader.error(at: field.value.location, "\(what).every must be at least 1s")
                    } else {
                        trigger = .every(interval)
                    }
                }
            case "enabled":
                enabled = reader.boolean(field.value, "\(what).enabled") ?? enabled
            case "payload":
                if case .mapping = field.value.kind {
                    payloadJSON = reader.json(field.value, "\(what).payload") ?? "{}"
                } else {
                    reader.error(at: field.value.location, "\(what).payload must be a mapping, found \(field.value.summary)")
                }
            default:
                break
            }
        }
        guard triggers == 1 else {
            reader.error(at: node.location, "\(what) needs exactly one of 'cron' (\"*/5 * * * *\") or 'every' (5m)")
            return nil
        }
        return trigger.map { JobSchedule(trigger: $0, enabled: enabled, payloadJSON: payloadJSON) }
    }

    private func cron(_ text: String, at location: SourceLocation, _ what: String, reader: ConfigurationNodeReader)
        -> CronExpression?
    {
        do {
            return try CronExpression(parsing: text)
        } catch {
            reader.error(at: location, "\(what): \(error)")
            return nil
        }
    }

    private func decodeRedis(_ node: YAMLNode?, reader: ConfigurationNodeReader) -> RedisSettings {
        var settings = RedisSettings(url: "redis://127.0.0.1:6379", prefix: "bull")
        guard let node, let fields = reader.mapping(node, "redis", allowed: ["url", "prefix"]) else { return settings }
        for field in fields {
            guard let text = reader.string(field.value, "redis.\(field.name)", allowEmpty: false) else { continue }
            if field.name == "url" {
                if Self.hasScheme(text, ["redis", "rediss"]) {
                    settings.url = text
                } else {
                    reader.error(
                        at: field.value.location,
                        "redis.url must look like redis://[:password@]host[:port][/db], found '\(URLCredentials.redacted(text))'")
                }
            } else if text.contains(where: { $0.isWhitespace }) {
                reader.error(at: field.value.location, "redis.prefix must not contain spaces")
            } else {
                settings.prefix = text
            }
        }
        return settings
    }

    private func decodePostgres(_ node: YAMLNode?, reader: ConfigurationNodeReader) -> PostgresSettings {
        var settings = PostgresSettings(url: "postgres://127.0.0.1:5432/pipeline")
        guard let node, let fields = reader.mapping(node, "postgres", allowed: ["url", "schema", "enabled"]) else {
            return settings
        }
        for field in fields {
            if field.name == "enabled" {
                settings.enabled = reader.boolean(field.value, "postgres.enabled") ?? settings.enabled
                continue
            }
            guard let text = reader.string(field.value, "postgres.\(field.name)", allowEmpty: false) else { continue }
            if field.name == "schema" {
                if PostgresClient.isPlainIdentifier(text) {
                    settings.schema = text
                } else {
                    reader.error(at: field.value.location, "postgres.schema must be lower-case letters, digits and '_', found '\(text)'")
                }
            } else if Self.hasScheme(text, ["postgres", "postgresql"]) {
                settings.url = text
            } else {
                reader.error(
                    at: field.value.location,
                    "postgres.url must look like postgres://user[:password]@host[:port]/database, found "
                        + "'\(URLCredentials.redacted(text))'")
            }
        }
        return settings
    }

    private func decodeAdmin(_ node: YAMLNode?, reader: ConfigurationNodeReader) -> AdminSettings {
        var settings = AdminSettings(host: "127.0.0.1", port: 8089, token: "")
        let keys = ["listen", "token", "allowed_hosts", "max_connections", "idle_timeout"]
        guard let node, let fields = reader.mapping(node, "admin", allowed: keys) else { return settings }
        for field in fields {
            let what = "admin.\(field.name)"
            switch field.name {
            case "max_connections":
                settings.maxConnections = reader.integer(field.value, what, in: 1...10_000) ?? settings.maxConnections
                continue
            case "idle_timeout":
                guard let value = reader.duration(field.value, what) else { continue }
                if value < .seconds(1) {
                    reader.error(at: field.value.location, "\(what) must be at least 1s")
                } else {
                    settings.idleTimeout = value
                }
                continue
            case "allowed_hosts":
                guard case .sequence(let items) = field.value.kind else {
                    reader.error(at: field.value.location, "\(what) must be a list of host names, such as [pipeline.example.org]")
                    continue
                }
                settings.allowedHosts = items.compactMap { item in
                    guard let host = reader.string(item, what, allowEmpty: false) else { return nil }
                    guard !host.contains(where: { $0.isWhitespace || $0 == "/" }) else {
                        reader.error(at: item.location, "\(what) holds host names (optionally with :port), found '\(host)'")
                        return nil
                    }
                    return host.lowercased()
                }
                continue
            default:
                break
            }
            guard let text = reader.string(field.value, what) else { continue }
            if field.name == "token" {
                if !text.isEmpty, text.count < AdminSettings.minimumTokenLength {
                    reader.error(
                        at: field.value.location,
                        "admin.token is \(text.count) characters; use at least \(AdminSettings.minimumTokenLength) random ones, "
                            + "made with e.g. `openssl rand -hex 24` or `head -c 24 /dev/urandom | base64` (empty turns the admin off)")
                }
                settings.token = text
                continue
            }
            guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
                (1...65_535).contains(port), colon != text.startIndex
            else {
                reader.error(at: field.value.location, "admin.listen must be HOST:PORT such as 127.0.0.1:8089, found '\(text)'")
                continue
            }
            settings.host = String(text[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            settings.port = port
        }
        return settings
    }

    private func decodeQueue(_ node: YAMLNode?, reader: ConfigurationNodeReader) -> QueueSettings {
        var settings = QueueSettings()
        let keys = ["lock_duration", "stalled_interval", "max_stalled_count", "drain_delay", "shutdown_grace", "cancel_grace"]
        guard let node, let fields = reader.mapping(node, "queue", allowed: keys) else { return settings }
        for field in fields {
            let what = "queue.\(field.name)"
            if field.name == "max_stalled_count" {
                settings.maxStalledCount = reader.integer(field.value, what, in: 0...1000) ?? settings.maxStalledCount
                continue
            }
            guard let value = reader.duration(field.value, what) else { continue }
            let minimum: Duration = field.name == "shutdown_grace" ? .zero : .milliseconds(100)
            guard value >= minimum else {
                reader.error(at: field.value.location, "\(what) must be at least \(DurationSyntax.format(minimum))")
                continue
            }
            switch field.name {
            case "lock_duration": settings.lockDuration = value
            case "stalled_interval": settings.stalledInterval = value
            case "drain_delay": settings.drainDelay = value
            case "cancel_grace": settings.cancelGrace = value
            default: settings.shutdownGrace = value
            }
        }
        return settings
    }

    // MARK: - Helpers

    static func isValidName(_ name: String, allowDots: Bool) -> Bool {
        !name.isEmpty && name.count <= 100
            && name.unicodeScalars.allSatisfy {
                ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || $0 == "_" || $0 == "-"
                    || (allowDots && $0 == ".")
            }
    }

    static func absolute(_ path: String, relativeTo directory: String) -> String {
        let joined = path.hasPrefix("/") ? path : (directory as NSString).appendingPathComponent(path)
        return (joined as NSString).standardizingPath
    }

    static func hasScheme(_ url: String, _ schemes: [String]) -> Bool {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased() else {
            return false
        }
        return schemes.contains(scheme) && components.host?.isEmpty == false
    }
}
