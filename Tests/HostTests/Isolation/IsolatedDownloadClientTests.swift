import Foundation
import Glibc
import HTTPTypes
import Hummingbird
import NIOCore
@testable import PipelineHost
import Testing

/// The real qBittorrent plugin, isolated (the default), against a real
/// qBittorrent: what a runner's death or an answer meant to exhaust memory
/// costs (docs/plugin-isolation.md).
@Suite struct IsolatedDownloadClientTests {
    /// A runner killed from outside while the monitor follows a real
    /// transfer: the monitor's call is retried in the new runner and the
    /// download completes as if nothing happened.
    @Test func aRunnerKilledFromOutsideMidDownloadLeavesTheRequestUnharmed() async throws {
        let swarm = try await RealTransferTests.QBittorrentDownload.start()
        let (fixture, downloader, pipeline, request) = (swarm.fixture, swarm.downloader, swarm.pipeline, swarm.request)
        try await eventually("the download under way", timeout: .seconds(60), every: .milliseconds(100)) {
            let progress = try await pipeline.requestRow(request).progress
            return progress >= 10 && progress < 90
        }
        let client = try #require(pipeline.runtime.plugins["client"])
        let killed = try #require(client.isolationStatus.pid)
        kill(killed, SIGKILL)
        try await eventually("a new runner") { client.isolationStatus.pid.map { $0 != killed } ?? false }
        #expect(client.isolationStatus.restarts >= 1)
        try await pipeline.waitForOrganize(request: request)
        let done = try await pipeline.requestRow(request)
        #expect(done.status == "downloading" && done.progress == 100)
        #expect(Set(try await pipeline.events("monitor_download").map(\.job)).count == 1, "one monitor job throughout")
        let failed = try await pipeline.postgres.query("SELECT count(*) FROM jobs WHERE status = 'failed'").rows
        #expect(failed == [["0"]], "no job failed")
        try RealTransferTests.expectSameFiles(fixture, in: downloader.downloads)
        try await pipeline.stop()
        withExtendedLifetime(swarm) {}
    }

    /// The hardening issue's bombs, through the real plugin with its body
    /// cap lifted: a compressed answer is refused before it is inflated, and
    /// a plain one without end grows only the runner, which is ended at its
    /// `max_memory`; the host keeps its memory and goes on.
    @Test func bodyBombsWithNoCapCostOnlyTheRunner() async throws {
        let bomb = try await onOwnThread { FetchHardeningTests.bomb }
        let stream = ResponseBody { writer in
            let chunk = ByteBuffer(repeating: 0x61, count: 1 << 20)
            for _ in 0..<4096 { try await writer.write(chunk) }
            try await writer.finish(nil)
        }
        let indexer = try await FetchHardeningTests.HostileServer([
            "/gzip": {
                Response(
                    status: .ok, headers: [.contentType: "application/x-bittorrent", .contentEncoding: "gzip"],
                    body: .init(byteBuffer: ByteBuffer(bytes: bomb)))
            },
            "/endless": { Response(status: .ok, headers: [.contentType: "application/x-bittorrent"], body: stream) },
        ])
        let qbittorrent = try await QBittorrentDaemon()
        let pipeline = try await DownloadPipeline(
            plugin: "libDownloadQBittorrent.so",
            config: """
                url: "\(qbittorrent.url)", username: admin, password: "\(qbittorrent.password)", \
                indexer_api_key: key, indexer_url: "\(indexer.url)", max_torrent_bytes: 17179869184
                """, downloadAttempts: 1, pluginOptions: "max_memory: 96MB")
        let client = try #require(pipeline.runtime.plugins["client"])
        let host = getpid()
        let before = IsolationDrillTests.resident(host)

        let gzipRequest = try await pipeline.request()
        let gzipJob = try await pipeline.download(request: gzipRequest, releases: [("Emma", indexer.url + "/gzip")])
        let queue = try #require(pipeline.runtime.queues["download_torrent"])
        try await eventually("the gzip release is refused") { try await queue.job(gzipJob)?.state == .failed }
        #expect(try await queue.job(gzipJob)?.failedReason?.contains("Content-Encoding 'gzip'") == true)
        #expect(client.isolationStatus.restarts == 0, "refused before a byte was inflated: the runner lives")

        let endlessRequest = try await pipeline.request()
        let endlessJob = try await pipeline.download(request: endlessRequest, releases: [("Emma", indexer.url + "/endless")])
        try await eventually("the endless release ends the runner", timeout: .seconds(60)) { try await queue.job(endlessJob)?.state == .failed }
        let reason = try await queue.job(endlessJob)?.failedReason ?? ""
        #expect(reason.contains("max_memory of 96MB"), "\(reason)")
        #expect(client.isolationStatus.restarts == 1)
        let grown = IsolationDrillTests.resident(host) - before
        #expect(grown < 64 << 20, "the host's memory stayed: grew \(grown >> 20) MiB")
        // The plugin works on in its new runner.
        try await eventually("the runner is back") { client.isolationStatus.pid != nil }
        try await pipeline.stop()
        withExtendedLifetime(qbittorrent) {}
    }
}
