import Foundation
import Logging
import PipelineHost
import PipelineJSON
import ServiceStandIns
import Testing

/// `pipeline-host plugin test`: every shipped driver passes it against its
/// real service (or the stand-in that answers as the real one does), and a
/// driver that breaks the interface's rules fails it, saying what to fix.
@Suite struct DriverConformanceTests {
    static func run(_ file: String, _ kind: DriverConformance.Kind, config: JSONValue) async throws -> [DriverConformance.Check] {
        let plugin = try PluginLoader.load(path: ProductsDirectory.path + "/" + file, isolation: .inProcess)
        return await DriverConformance.run(
            plugin: plugin, kind: kind, configs: DriverConformance.Configs(working: config.jsonText), logger: Logger(label: "conformance"))
    }

    static func expectAllPass(_ checks: [DriverConformance.Check], minimum: Int) {
        #expect(checks.count >= minimum, "\(checks)")
        for check in checks {
            #expect(check.passed, "\(check.name): \(check.detail)")
        }
    }

    @Test func qBittorrentPasses() async throws {
        let client = try await QBittorrentDaemon()
        let checks = try await Self.run(
            "libDownloadQBittorrent.so", .downloadClient,
            config: ["url": .string(client.url), "username": .string(client.username), "password": .string(client.password)])
        Self.expectAllPass(checks, minimum: 11)
        try await client.stop()
    }

    @Test func transmissionPasses() async throws {
        let client = try await TransmissionDaemon()
        let checks = try await Self.run(
            "libDownloadTransmission.so", .downloadClient,
            config: ["url": .string(client.url), "username": .string(client.username), "password": .string(client.password)])
        Self.expectAllPass(checks, minimum: 11)
        try await client.stop()
    }

    @Test func delugeInCPasses() async throws {
        let client = try await DelugeDaemon()
        let checks = try await Self.run(
            "libDownloadDeluge.so", .downloadClient, config: ["url": .string(client.url), "password": .string(client.password)])
        Self.expectAllPass(checks, minimum: 11)
        try await client.stop()
    }

    @Test func nzbGetInCPasses() async throws {
        let news = try await NewsServer()
        let client = try await NZBGetDaemon(newsServer: news)
        let checks = try await Self.run(
            "libDownloadNZBGet.so", .downloadClient,
            config: ["url": .string(client.url), "username": .string(client.username), "password": .string(client.password)])
        Self.expectAllPass(checks, minimum: 11)
        #expect(checks.contains { $0.name == "adds an NZB twice, with the same id" && $0.passed }, "the usenet checks ran")
        try await client.stop()
        try await news.stop()
    }

    @Test(arguments: ["plex", "audiobookshelf"])
    func libraryBackendPasses(_ backend: String) async throws {
        let server: any LibraryServerStandIn = backend == "plex" ? try await PlexStandIn() : try await AudiobookshelfStandIn()
        for index in 0..<7 {
            server.add(StandInBook(id: "c\(index)", title: "Book \(index)", author: "Some Author", addedAt: 1_700_000_000 + index))
        }
        let checks = try await Self.run(
            server.pluginFile, .libraryBackend,
            config: ["url": .string(server.url), "token": .string(server.token), "library_id": .string(server.libraryID)])
        Self.expectAllPass(checks, minimum: 8)
        #expect(server.scansRequested == [nil], "the suite asked for one scan of the whole library")
    }

    @Test func aBrokenDriverFailsSayingWhatToFix() async throws {
        let checks = try await Self.run(
            "libFixtureBrokenDriver.so", .downloadClient, config: ["url": "http://127.0.0.1:9", "password": "right"])
        func detail(_ name: String) -> String? { checks.first { $0.name == name }.map { $0.passed ? "passed" : $0.detail } }
        #expect(detail("offers the interface") == "passed")
        #expect(detail("test answers with the version") == "passed")
        #expect(detail("adds a .torrent twice, with the same id")?.contains("succeed with the same id when the client has it already") == true)
        #expect(detail("adds a magnet twice, with the same id")?.contains("not its info hash") == true)
        #expect(
            detail("status of an unknown id is null")?.contains(
                "returned PP_DRIVER_TRANSIENT (no such torrent); a download the client does not have is PP_DRIVER_OK with set_result(null)")
                == true)
        #expect(detail("removing an unknown id succeeds")?.contains("removing what the client does not have must succeed") == true)
        #expect(
            detail("wrong credentials give a permanent error")?.contains("test returned PP_DRIVER_TRANSIENT (login failed); a refused password")
                == true)
        #expect(detail("a stopped service gives a transient error")?.contains("test returned PP_DRIVER_OK") == true)
        #expect(checks.filter { !$0.passed }.count == 9, "\(checks.map(\.name))")
    }

    @Test func theCommandExitsNonZeroAndPrintsTheFailures() async throws {
        let run = try await CommandLineTests.run([
            "plugin", "test", ProductsDirectory.path + "/libFixtureBrokenDriver.so", "--kind", "download-client", "--config",
            #"{"url":"http://127.0.0.1:9","password":"right"}"#,
        ])
        #expect(run.status == 1, "\(run.errors)")
        #expect(run.output.contains("FAIL  status of an unknown id is null"), "\(run.output)")
        #expect(run.output.contains("9 of 11 checks failed"), "\(run.output)")
    }
}
