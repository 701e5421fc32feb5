import Foundation
import PipelineHost
import PipelinePayloads
import ServiceStandIns
import Testing

/// The host killed with SIGKILL mid-download and again mid-import, on real
/// parts, each time restarted: the request still reaches `available`, and the
/// library holds each file once, whole, with nothing half-written beside it.
@Suite struct HostKillDrillTests {
    /// Two 60 MB chapters: long enough to copy that the import can be caught midway.
    static let sizes = [60_000_000, 60_000_000]

    @Test func aHostKilledMidDownloadAndMidImportStillMakesTheRequestAvailableWithEachFileOnce() async throws {
        let stores = try await HostProcessStores()
        let (postgres, directory, library) = (stores.postgres, stores.directory, stores.library)
        let book = try await SeededBook(sizes: Self.sizes, in: directory)
        let (fixture, client) = (book.fixture, book.client)
        // Slow enough (120 MB at 4 MB/s) to be killed midway.
        try await client.call("transfer/setDownloadLimit", form: [("limit", "4000000")])
        let prowlarr = try await ProwlarrStandIn()
        prowlarr.add(
            title: "Jane Austen - Pride and Prejudice (Unabridged) [MP3]", size: Int64(fixture.totalBytes), seeders: 1,
            torrent: try fixture.data)
        let plex = try await PlexStandIn()
        plex.watch(folder: library)

        let file = try directory.write(
            "pipeline.yaml",
            """
            \(stores.storesYAML)
            queue: {drain_delay: 1s, lock_duration: 2s, stalled_interval: 1s}
            plugins:
              search: {path: libSearchProwlarr.so, config: {url: "\(prowlarr.url)", api_key: \(prowlarr.apiKey)}}
              client:
                path: libDownloadQBittorrent.so
                config: {\(book.clientConfig(indexerAPIKey: prowlarr.apiKey, indexerURL: prowlarr.url))}
              organizer: {path: libOrganizeFiles.so, config: {library_root: "\(library)", import_roots: ["\(book.client.downloads)"], mode: copy, scan_after_import: true}}
              library: {path: libLibraryPlex.so, config: {\(plex.pluginConfig(extra: "scan_settle_seconds: 0.3"))}}
            jobs:
              search_indexers: {plugin: search}
              download_torrent: {plugin: client}
              monitor_download: {plugin: client}
              organize_files: {plugin: organizer, timeout: 2m}
              scan_library: {plugin: library}
              library_recently_added_check: {plugin: library}
            """)
        var host = try HostProcess(config: file, hostID: "first", directory: directory)
        try await stores.waitForSchema()
        let ledger = RequestLedger(client: postgres)
        let request = try await ledger.create(NewRequest(title: "Pride and Prejudice", author: "Jane Austen"))
        let snapshot = try #require(try await ledger.snapshot(request.id))
        let searches = try stores.queue("search_indexers")
        let imports = try stores.queue("organize_files")
        _ = try await searches.add(dataJSON: String(decoding: try JSONEncoder().encode(snapshot.searchPayload()), as: UTF8.self))

        // 1. Killed mid-download.
        try await eventually("the download under way", timeout: .seconds(60), every: .milliseconds(100)) {
            let progress = try await ledger.request(request.id)?.progress ?? 0
            return progress >= 10 && progress <= 80
        }
        host.kill()
        _ = try await host.exitCode()
        #expect(try await ledger.request(request.id)?.status == .downloading)
        try await client.call("transfer/setDownloadLimit", form: [("limit", "0")])
        host = try HostProcess(config: file, hostID: "second", directory: directory)

        // 2. Killed mid-import: the organize job is running (copying 120 MB).
        let folder = library + "/Jane Austen/Pride and Prejudice"
        var organizeJob: String?
        try await eventually("the import under way", timeout: .seconds(90), every: .milliseconds(5)) {
            for id in try await imports.activeJobIDs() {
                organizeJob = id
                return true
            }
            return false
        }
        host.kill()
        _ = try await host.exitCode()
        let killedJob = try #require(organizeJob)
        #expect(try await imports.job(killedJob)?.state == .active, "the host died with the import running")
        #expect(try await ledger.request(request.id)?.status == .downloading, "an import's moves apply with its outcome")
        host = try HostProcess(config: file, hostID: "third", directory: directory)

        try await eventually("available", timeout: .seconds(90), every: .milliseconds(200)) {
            let record = try await ledger.request(request.id)
            guard record?.status != .failed && record?.status != .warn else {
                throw TestFailure("the request ended \(record?.status.rawValue ?? "?"): \(record?.statusReason ?? "")")
            }
            return record?.status == .available
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        #expect(names == ["01 - Chapter 1.mp3", "02 - Chapter 2.mp3"], "each file once, no temporary file left: \(names)")
        for (index, name) in names.enumerated() where index < 2 {
            let copy = try Data(contentsOf: URL(fileURLWithPath: folder + "/" + name))
            let seeded = try Data(contentsOf: URL(fileURLWithPath: fixture.parent + "/" + fixture.name + "/" + name))
            #expect(copy == seeded, "\(name) is whole")
        }
        #expect(try await imports.job(killedJob)?.state == .completed, "the killed import was taken up again")
        host.terminate()
        #expect(try await host.exitCode() == 0)
        withExtendedLifetime((book, prowlarr, plex)) {}
    }
}
