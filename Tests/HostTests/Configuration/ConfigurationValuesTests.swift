import PipelineHost
import Testing

/// Values that pipeline.yaml accepts, and what they become.
@Suite struct ConfigurationValuesTests {
    func load(_ yaml: String, environment: [String: String] = [:]) throws -> PipelineConfiguration {
        try ConfigurationLoader(environment: environment, defaultPluginDirectory: "/plugins")
            .load(bytes: Array(yaml.utf8), file: "test.yaml")
    }

    @Test func downloadClientsAreInstancesInPriorityOrderAndOneFileMayBeLoadedTwice() throws {
        let configuration = try load("""
            plugins:
              qbit_home: {path: libDownloadQBittorrent.so, config: {url: "http://a"}}
              qbit_seedbox: {path: libDownloadQBittorrent.so, config: {url: "http://b"}}
              nzb: {path: libNZB.so}
            download_clients:
              - {plugin: qbit_seedbox, accept_new: false}
              - plugin: qbit_home
              - {plugin: nzb, protocols: [usenet, torrent, usenet]}
            jobs:
              download_torrent: {plugin: download_clients}
              monitor_download: {plugin: download_clients}
              other: {plugin: nzb}
            """)
        #expect(configuration.downloadClients == [
            DownloadClientRoute(plugin: "qbit_seedbox", acceptsNew: false), DownloadClientRoute(plugin: "qbit_home"),
            DownloadClientRoute(plugin: "nzb", protocols: [.usenet, .torrent]),
        ])
        #expect(configuration.plugins.map(\.path) == ["/plugins/libDownloadQBittorrent.so", "/plugins/libDownloadQBittorrent.so", "/plugins/libNZB.so"])
        #expect(configuration.downloadJobTypes == ["download_torrent", "monitor_download"])
        #expect(configuration.downloadClients[1].location.line == 7)
    }

    @Test func defaultsApplyAndJobTypesOverride() throws {
        let configuration = try load("""
            defaults:
              concurrency: 4
              priority: low
              attempts: 5
              backoff: {type: fixed, delay: 750ms, jitter: 0.25, max: 10s}
              timeout: 1h30m
              retention: {completed: {count: 10, age: 7d}, failed: all}
            plugins:
              p: {path: libP.so, config: {n: 1, f: 1.5, b: true, s: "1", z: null, l: [a, 2]}}
            jobs:
              a: {plugin: p}
              b: {plugin: p, concurrency: 2, priority: 7, attempts: 1, delay: 3s, backoff: {type: exponential}}
              c: {plugin: p, priority: none}
            """)
        let a = try #require(configuration.job(named: "a"))
        #expect(a.concurrency == 4 && a.priority == JobPriority(value: 10) && a.attempts == 5)
        #expect(a.backoff == Backoff(strategy: .fixed, delay: .milliseconds(750), jitter: 0.25, limit: .seconds(10)))
        #expect(a.timeout == .seconds(5400))
        #expect(a.retention.completed == RetentionRule(count: 10, age: .seconds(604_800)))
        #expect(a.retention.failed == RetentionRule())
        let b = try #require(configuration.job(named: "b"))
        #expect(b.concurrency == 2 && b.priority.value == 7 && b.attempts == 1 && b.delay == .seconds(3))
        #expect(b.backoff.strategy == .exponential && b.backoff.delay == .milliseconds(750))
        #expect(try #require(configuration.job(named: "c")).priority == .none)
        #expect(configuration.plugins[0].path == "/plugins/libP.so")
        #expect(configuration.plugins[0].configJSON == #"{"b":true,"f":1.5,"l":["a",2],"n":1,"s":"1","z":null}"#)
    }

    @Test func namedPrioritiesFollowBullMQ() {
        #expect(JobPriority.levels.map(\.value) == [1, 5, 10])
        #expect(JobPriority.levels.map(\.name) == ["high", "medium", "low"])
    }

    @Test func mergeKeysShareSettings() throws {
        let configuration = try load("""
            plugins:
              p: {path: libP.so}
            jobs:
              a: &slow {plugin: p, concurrency: 1, timeout: 30m}
              b:
                <<: *slow
                concurrency: 6
            """)
        let b = try #require(configuration.job(named: "b"))
        #expect(b.concurrency == 6 && b.timeout == .seconds(1800) && b.plugin == "p")
    }

    @Test func substitutedSecretsStayStrings() throws {
        let configuration = try load(
            """
            plugins:
              p:
                path: libP.so
                config:
                  key: ${KEY}
                  long: ${LONG}
                  exp: ${EXP}
                  port: ${PORT}
                  ratio: 0.5
            jobs:
              a: {plugin: p}
            """, environment: ["KEY": "0042", "LONG": "12345678901234567890123", "EXP": "1e999", "PORT": "8080"])
        #expect(configuration.plugins[0].configJSON
            == #"{"exp":"1e999","key":"0042","long":"12345678901234567890123","port":8080,"ratio":0.5}"#)
    }

    @Test func passwordsNeverAppearInMessages() {
        let yaml = "redis:\n  url: \"redis://:hunter2@\"\nplugins: {p: {path: x.so}}\njobs: {a: {plugin: p}}\n"
        let error = #expect(throws: DiagnosticsError.self) { try load(yaml) }
        #expect(error?.description.contains("hunter2") == false)
        #expect(error?.description.contains("redis://:***@") == true)
    }

    @Test func variablesAreSubstitutedInValuesOnly() throws {
        let configuration = try load(
            """
            plugins:
              p: {path: "${PLUGIN_FILE}", config: {cost: "$$5", url: "${URL:-http://x}"}}
            jobs:
              a: {plugin: p, concurrency: "${CONC:-2}", schedule: {every: "${EVERY}"}}
            """, environment: ["PLUGIN_FILE": "/abs/libQ.so", "EVERY": "90s", "URL": ""])
        #expect(configuration.plugins[0].path == "/abs/libQ.so")
        #expect(configuration.plugins[0].configJSON == #"{"cost":"$5","url":"http://x"}"#)
        let a = try #require(configuration.job(named: "a"))
        #expect(a.concurrency == 2)
        #expect(a.schedule?.summary == "every 1m30s")
    }
}

@Suite struct EnvironmentSubstitutionTests {
    let substitution = EnvironmentSubstitution(environment: ["HOST": "db", "EMPTY": "", "N1": "x"])

    @Test func forms() throws {
        #expect(try substitution.apply(to: "postgres://${HOST}:5432") == "postgres://db:5432")
        #expect(try substitution.apply(to: "${MISSING:-fallback}") == "fallback")
        #expect(try substitution.apply(to: "${EMPTY:-fallback}") == "fallback")
        #expect(try substitution.apply(to: "${EMPTY}") == "")
        #expect(try substitution.apply(to: "${N1}${HOST}") == "xdb")
        #expect(try substitution.apply(to: "$$HOME and $PATH") == "$HOME and $PATH")
        #expect(try substitution.apply(to: "${MISSING:-}") == "")
    }

    @Test func problemsSayWhereAndWhat() {
        #expect(throws: EnvironmentSubstitution.Problem(
            offset: 4, message: "environment variable NOPE is not set and has no default; set it, or write ${NOPE:-value}")) {
            try substitution.apply(to: "abc ${NOPE}")
        }
        #expect(throws: EnvironmentSubstitution.Problem.self) { try substitution.apply(to: "${OPEN") }
        #expect(throws: EnvironmentSubstitution.Problem.self) { try substitution.apply(to: "${1BAD}") }
    }
}
