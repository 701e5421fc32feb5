import Foundation
import PipelineHost
import Testing

/// Each broken pipeline.yaml is refused with the right FILE:LINE:COLUMN and
/// message, and every problem in a file is reported in one run.
@Suite struct BrokenConfigurationTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var bytes: [UInt8]
        /// line, column, a fragment of the message: one per expected diagnostic.
        var expected: [(Int, Int, String)]
        var environment: [String: String] = [:]
        var testDescription: String { name }
    }

    static let header = """
        plugins:
          echo:
            path: libFixtureCEcho.so
        jobs:
          echo:
            plugin: echo

        """

    static func text(_ yaml: String) -> [UInt8] { Array(yaml.utf8) }

    static let cases: [Case] = [
        Case(name: "tabs", bytes: text("plugins:\n\techo:\n    path: x.so\njobs:\n\t  x: 1\n"),
             expected: [(2, 1, "tab in indentation"), (5, 1, "tab in indentation")]),
        Case(name: "duplicate keys", bytes: text(header + "    concurrency: 2\n    concurrency: 3\n"),
             expected: [(8, 5, "duplicate key 'concurrency' (first defined at line 7)")]),
        Case(name: "unknown keys", bytes: text(header + "    concurency: 2\n    retention: {completed: 1, faild: 2}\nredis:\n  urls: x\n"),
             expected: [(7, 5, "unknown key 'concurency' in jobs.echo; did you mean 'concurrency'?"),
                        (8, 31, "unknown key 'faild' in jobs.echo.retention; did you mean 'failed'?"),
                        (10, 3, "unknown key 'urls' in redis; did you mean 'url'?")]),
        Case(name: "wrong types", bytes: text(header + "    concurrency: three\n    attempts: [1]\n    backoff: {type: linear, jitter: 2}\n    schedule: {every: 5m, enabled: maybe}\n"),
             expected: [(7, 18, "jobs.echo.concurrency must be a whole number, found 'three'"),
                        (8, 15, "jobs.echo.attempts must be a single value, found a list"),
                        (9, 21, "jobs.echo.backoff.type must be fixed or exponential, found 'linear'"),
                        (9, 37, "jobs.echo.backoff.jitter must be a number from 0.0 to 1.0"),
                        (10, 36, "jobs.echo.schedule.enabled must be true or false, found 'maybe'")]),
        Case(name: "negative concurrency", bytes: text(header + "    concurrency: -4\ndefaults:\n  concurrency: -1\n"),
             expected: [(7, 18, "jobs.echo.concurrency must be from 0 to 512, found -4"),
                        (9, 16, "defaults.concurrency must be from 0 to 512, found -1")]),
        Case(name: "unknown plugin", bytes: text(header.replacingOccurrences(of: "plugin: echo", with: "plugin: ecoh")),
             expected: [(6, 13, "unknown plugin 'ecoh' in jobs.echo.plugin; did you mean 'echo'?")]),
        Case(name: "missing plugin file", bytes: text(header.replacingOccurrences(of: "libFixtureCEcho.so", with: "libNoSuchPlugin.so")),
             expected: [(3, 11, "libNoSuchPlugin.so: no such file; build the plugin")]),
        Case(name: "bad duration", bytes: text(header + "    timeout: 10\n    delay: 5 parsecs\n    backoff: {delay: 2x}\n"),
             expected: [(7, 14, "bad duration '10': it has no unit; write e.g. 10s or 10ms"),
                        (8, 12, "bad duration '5 parsecs': unknown unit at ' parsecs'"),
                        (9, 22, "bad duration '2x': unknown unit at 'x'")]),
        Case(name: "bad cron", bytes: text(header + "    schedule:\n      cron: \"61 * * * *\"\n  c.echo:\n    plugin: echo\n    schedule: \"* * *\"\n"),
             expected: [(8, 13, "minute field: 61 is out of range 0-59"),
                        (11, 15, "expected 5 fields (minute hour day-of-month month day-of-week), found 3")]),
        Case(name: "unset variable without default",
             bytes: text("plugins:\n  echo:\n    path: ${NOPE_PLUGIN}\n    config:\n      key: \"abc ${MISSING_KEY}\"\njobs:\n  echo:\n    plugin: echo\n"),
             expected: [(3, 11, "environment variable NOPE_PLUGIN is not set and has no default; set it, or write ${NOPE_PLUGIN:-value}"),
                        (5, 17, "environment variable MISSING_KEY is not set")]),
        Case(name: "alias bomb", bytes: text(billionLaughs),
             expected: [(6, 8, "alias *e would expand the document past 100000 nodes; refusing to expand it")]),
        Case(name: "empty file", bytes: [],
             expected: [(1, 1, "the configuration is empty: expected a mapping with 'plugins' and 'jobs'")]),
        Case(name: "only comments", bytes: text("# nothing here yet\n\n"),
             expected: [(1, 1, "the configuration is empty")]),
        Case(name: "not UTF-8", bytes: text("plugins:\n  echo:\n    path: caf") + [0xE9] + text(".so\n"),
             expected: [(3, 14, "the file is not valid UTF-8 (byte 0xE9")]),
        Case(name: "UTF-16", bytes: [0xFF, 0xFE, 0x70, 0x00],
             expected: [(1, 1, "the file is UTF-16; save it as UTF-8")]),
        Case(name: "syntax error", bytes: text("plugins:\n  echo: [a, b\njobs: {}\n"),
             expected: [(3, 5, "YAML syntax error")]),
        Case(name: "job type bound to a plugin that does not handle it", bytes: text(header + "  orphan:\n    plugin: echo\n"),
             expected: [(8, 13, "job type 'orphan' is bound to plugin 'echo' (C echo fixture), which does not handle it; it handles: echo, c.echo, work, slow, other, stuck, crash_now, slow_ok")]),
        Case(name: "missing sections", bytes: text("redis:\n  url: redis://127.0.0.1\n"),
             expected: [(1, 1, "missing key 'plugins' at the top level"), (1, 1, "missing key 'jobs' at the top level")]),
        Case(name: "second document", bytes: text(header + "---\nplugins: {}\n"),
             expected: [(7, 1, "only one YAML document is allowed")]),
        Case(name: "path leaving the plugin directory", bytes: text(header.replacingOccurrences(of: "libFixtureCEcho.so", with: "../../etc/evil.so")),
             expected: [(3, 11, "leaves the plugin directory")]),
        Case(name: "bad URLs and listen address", bytes: text(header + "redis:\n  url: http://x\npostgres:\n  url: \"postgres://u:secret@\"\nadmin:\n  listen: localhost\n"),
             expected: [(8, 8, "redis.url must look like redis://"),
                        (10, 8, "postgres.url must look like postgres://"),
                        (12, 11, "admin.listen must be HOST:PORT")]),
        Case(name: "download clients",
             bytes: text(header + "download_clients:\n  - plugin: ecoh\n  - {plugin: echo, protocols: [torrent, pigeon], accept_new: maybe}\n  - plugin: echo\n  - plugin\n"),
             expected: [(8, 13, "unknown plugin 'ecoh' in download_clients[0].plugin; did you mean 'echo'?"),
                        (9, 41, "download_clients[1].protocols: 'pigeon' is not a protocol; write torrent, usenet"),
                        (9, 62, "download_clients[1].accept_new must be true or false, found 'maybe'"),
                        (10, 13, "download_clients[2]: plugin 'echo' is listed already (line 9); list each instance once"),
                        (11, 5, "download_clients[3] must be a mapping, found the string 'plugin'")]),
        Case(name: "download clients that take nothing new",
             bytes: text(header + "download_clients:\n  - {plugin: echo, accept_new: false}\n"),
             expected: [(8, 3, "no client in download_clients takes new torrent downloads (accept_new: false on each that takes torrents): new downloads would fail; set accept_new: true on one")]),
        Case(name: "a routed job type a client does not handle",
             bytes: text(header + "  orphan:\n    plugin: download_clients\ndownload_clients:\n  - plugin: echo\n"),
             expected: [(10, 5, "download client 'echo' (C echo fixture) does not handle job type 'orphan', which is bound to download_clients; it handles: echo, c.echo, work, slow, other, stuck, crash_now, slow_ok"),
                        (6, 13, "job type 'echo' is bound to 'echo', a member of download_clients, while other job types are bound to the list: bind it to download_clients too (plugin: download_clients)")]),
        Case(name: "library backends",
             bytes: text(header + "library_backends:\n  - plugin: ecoh\n  - plugin: echo\n  - plugin: echo\n  - {plugin: echo, accept_new: true}\n"),
             expected: [(8, 13, "unknown plugin 'ecoh' in library_backends[0].plugin; did you mean 'echo'?"),
                        (10, 13, "library_backends[2]: plugin 'echo' is listed already (line 9); list each instance once"),
                        (11, 20, "unknown key 'accept_new' in library_backends[3]"),
                        (11, 14, "library_backends[3]: plugin 'echo' is listed already (line 9)")]),
        Case(name: "priority", bytes: text(header + "    priority: urgent\n"),
             expected: [(7, 15, "jobs.echo.priority must be none, high, medium, low, or a number from 0 to 2097151")]),
    ]

    static let billionLaughs = """
        a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
        b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
        c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
        d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
        e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
        f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
        g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
        h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
        i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]

        """

    @Test(arguments: cases)
    func refusedWithEveryProblemAtItsPlace(_ testCase: Case) throws {
        let directory = try TemporaryDirectory()
        let file = directory.path + "/pipeline.yaml"
        try Data(testCase.bytes).write(to: URL(fileURLWithPath: file))
        let validator = PipelineValidator(
            loader: ConfigurationLoader(environment: testCase.environment, defaultPluginDirectory: ProductsDirectory.path),
            logger: .silent)
        let error = try #require(throws: DiagnosticsError.self) { try validator.validate(file: file) }
        let found = error.diagnostics.map { "\($0.location.line):\($0.location.column) \($0.message)" }
        #expect(error.diagnostics.count == testCase.expected.count, "got: \(found)")
        for (line, column, fragment) in testCase.expected {
            #expect(
                error.diagnostics.contains { $0.location == SourceLocation(line: line, column: column) && $0.message.contains(fragment) },
                "expected \(line):\(column) \(fragment); got: \(found)")
        }
        #expect(error.diagnostics.allSatisfy { $0.file == file })
        #expect(error.description.hasPrefix("\(file):"))
    }
}
