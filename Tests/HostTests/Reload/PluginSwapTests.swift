import Foundation
import ServiceStandIns
import PipelineHost
import Testing

/// The library backend swapped on a running `pipeline-host run` process:
/// pipeline.yaml is edited to move the library jobs from the Plex plugin to
/// the Audiobookshelf one, and SIGHUP is sent. The Plex plugin's job in
/// flight finishes on Plex; the jobs after it run on Audiobookshelf; every
/// request reaches `available`; the job events say which plugin ran each job.
@Suite struct PluginSwapTests {
    static func config(_ stores: HostProcessStores, library: any LibraryServerStandIn, isolation: String) -> String {
        """
        \(stores.storesYAML)
        queue: {drain_delay: 1s}
        plugins:
          library: {path: \(library.pluginFile), isolation: \(isolation), config: {\(library.pluginConfig(timeoutSeconds: 20, extra: "page_size: 1"))}}
        jobs:
          scan_library: {plugin: library, attempts: 1}
          library_recently_added_check: {plugin: library, attempts: 1}
        """
    }

    static func addBook(_ title: String, to library: String) throws {
        let folder = library + "/Jane Austen/" + title
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try Data("audio".utf8).write(to: URL(fileURLWithPath: folder + "/\(title).mp3"))
    }

    @Test(arguments: ["process", "none"])
    func movingTheLibraryJobsFromPlexToAudiobookshelfOnSIGHUPLosesNoRequest(_ isolation: String) async throws {
        let stores = try await HostProcessStores()
        let (postgres, directory, library) = (stores.postgres, stores.directory, stores.library)
        try Self.addBook("Emma", to: library)
        let plex = try await PlexStandIn()
        let audiobookshelf = try await AudiobookshelfStandIn()
        for standIn in [plex, audiobookshelf] as [any LibraryServerStandIn] { standIn.watch(folder: library) }
        // Slow enough that the scan is still reading Plex when the swap comes.
        plex.faults.slow(.seconds(3))

        let file = try directory.write(
            "pipeline.yaml", Self.config(stores, library: plex, isolation: isolation))
        let host = try HostProcess(config: file, hostID: "swapper", directory: directory)
        try await stores.waitForSchema()
        let ledger = RequestLedger(client: postgres)
        var requests: [String: String] = [:]
        for title in ["Emma", "Persuasion", "Sense and Sensibility"] {
            requests[title] = try await ledger.create(title: title, author: "Jane Austen", status: .downloaded).id
        }
        let scans = try stores.queue("scan_library")
        let checks = try stores.queue("library_recently_added_check")
        let scan = try await scans.add(dataJSON: "{}")
        try await eventually("the Plex scan is running") { try await scans.job(scan)?.state == .active }

        _ = try directory.write(
            "pipeline.yaml", Self.config(stores, library: audiobookshelf, isolation: isolation))
        host.child.signal(SIGHUP)
        try await eventually("reloaded", timeout: .seconds(30)) { host.output.contains("configuration reloaded") }
        #expect(try await scans.job(scan)?.state == .active, "the swap came while Plex's scan was in flight")

        // The job in flight finishes on the old plugin, which then retires.
        try await eventually("the Plex scan finished", timeout: .seconds(30)) { try await scans.job(scan)?.state == .completed }
        try await eventually("Emma available") { try await ledger.request(requests["Emma"]!)?.status == .available }
        try await eventually("the Plex plugin retired") { host.output.contains("plugin retired after its last job") }

        // Books imported after the swap are found on Audiobookshelf.
        try Self.addBook("Persuasion", to: library)
        try Self.addBook("Sense and Sensibility", to: library)
        let check = try await checks.add(dataJSON: "{}")
        try await eventually("every request available", timeout: .seconds(30)) {
            var statuses: [RequestStatus?] = []
            for id in requests.values { statuses.append(try await ledger.request(id)?.status) }
            return statuses.allSatisfy { $0 == .available }
        }
        #expect(try await checks.job(check)?.state == .completed)

        // The event log names the plugin that ran each job.
        func startedBy(_ type: String, _ id: String) async throws -> String {
            try await eventually("\(type) \(id) recorded") {
                try await !postgres.query("SELECT 1 FROM job_events WHERE job_type = $1 AND job_id = $2 AND message LIKE 'attempt % started on %'", [type, id]).rows.isEmpty
            }
            return try await postgres.query(
                "SELECT message FROM job_events WHERE job_type = $1 AND job_id = $2 AND message LIKE 'attempt % started on %'", [type, id]
            ).rows.first?.first.flatMap { $0 } ?? ""
        }
        #expect(try await startedBy("scan_library", scan).contains("by plugin library (org.pipeline.library.plex"))
        #expect(try await startedBy("library_recently_added_check", check).contains("by plugin library (org.pipeline.library.audiobookshelf"))
        #expect(Set(try await postgres.query("SELECT backend FROM library_items").rows.compactMap { $0[0] }) == ["plex", "audiobookshelf"])

        host.terminate()
        #expect(try await host.exitCode() == 0)
    }
}
