import DownloadClientKit
import Foundation
import PluginHTTP
import PluginKit

/// One poll of `monitor_download`: one job for the whole download, which
/// reschedules itself until the download is complete or has failed.
struct MonitorDownloadJob {
    let jobs: DownloadJobs
    let job: Job
    let context: JobContext

    /// The waits within one poll before a missing download counts as missing:
    /// just after an add, a client may not list the torrent yet.
    static var missingRetryDelays: [Duration] { [.milliseconds(500), .seconds(1), .seconds(2)] }

    func run() async throws -> JobOutcome {
        var payload = try job.payload(as: MonitorDownloadPayload.self)
        guard payload.client == jobs.driver.kind else {
            return .fail(
                "this download is in \(payload.client), and this plugin talks to \(jobs.driver.kind): list both "
                    + "plugins under download_clients and bind monitor_download to download_clients, so that each "
                    + "download stays with the client that has it (docs/configuration.md, \"Download clients\")")
        }
        let observation: MonitorObservation
        do {
            observation = try await observe(payload.infoHash)
        } catch {
            return failRequest(payload, reason: error.message, outcome: .fail(error.message))
        }
        switch jobs.monitor.decide(payload.monitor, observation) {
        case .pollAgain(let delay, let state, let progress, let log):
            write(log)
            // Asked every poll, progress or not: a refusal (the request was
            // cancelled, or moved on) is how the monitor learns to stop.
            if let requestID = payload.requestID {
                do {
                    try context.requestTransition(
                        requestID: requestID, to: "downloading", details: progress.map { ["progress": .double($0)] })
                } catch let error as PluginError where error.isHostRefusal {
                    context.log(.warn, "monitoring stopped: \(error.message)")
                    return .done(["stopped": .string(error.message)])
                }
            }
            payload.monitor = state
            return .reschedule(after: delay, payload: try JSONValue(encoding: payload))

        case .completed(let contentPath, _, let log):
            write(log)
            let localPath = jobs.settings.pathMappings.localPath(for: contentPath)
            if let requestID = payload.requestID {
                try context.requestTransition(
                    requestID: requestID, to: "downloading",
                    details: [
                        "progress": 100,
                        "download": [
                            "client": .string(jobs.driver.kind), "client_id": .string(payload.infoHash),
                            "status": "completed", "save_path": .string(localPath),
                        ],
                    ])
            }
            let organize = OrganizeFilesPayload(
                requestID: payload.requestID, book: payload.book, downloadPath: localPath, client: jobs.driver.kind,
                infoHash: payload.infoHash, releaseTitle: payload.releaseTitle)
            try context.enqueue(DownloadJobTypes.organize, payload: organize)
            context.log(.info, "download complete; organize_files enqueued for \(localPath)")
            return .done(["download_path": .string(localPath), "client_path": .string(contentPath)])

        case .failed(let reason, let log):
            write(log)
            guard case .found(let status) = observation, status.state == .failed else {
                return failRequest(payload, reason: reason, outcome: .fail(reason))
            }
            return await failedInClient(payload, reason: reason)
        }
    }

    /// The client reports the download in error (a par or health failure, a
    /// missing article, a local error): its data is of no use. Take it out
    /// of the client, data and all, and hand the next alternate to
    /// `download_torrent` (routed anew, so it goes to the client of its
    /// protocol); with none left, fail the request, saying what was tried.
    private func failedInClient(_ payload: MonitorDownloadPayload, reason: String) async -> JobOutcome {
        do {
            try await jobs.driver.remove(payload.infoHash, deletingData: true)
        } catch {
            context.log(.warn, "could not remove the failed download \(payload.infoHash) from \(jobs.driver.displayName): \(error)")
        }
        let tried = payload.tried + ["'\(payload.releaseTitle ?? payload.infoHash)': \(reason)"]
        guard let next = payload.alternates.first else {
            let summary = tried.count == 1 ? reason : "every release failed in the client: " + tried.joined(separator: "; ")
            return failRequest(payload, reason: summary, outcome: .fail(summary))
        }
        let retry = DownloadTorrentPayload(
            requestID: payload.requestID, book: payload.book, release: next, alternates: Array(payload.alternates.dropFirst()), tried: tried)
        do {
            if let requestID = payload.requestID {
                try context.requestTransition(
                    requestID: requestID, to: "downloading",
                    details: [
                        "progress": 0, "reason": .string("\(reason); trying the next release, '\(next.title)'"),
                        "download": [
                            "client": .string(jobs.driver.kind), "client_id": .string(payload.infoHash), "status": "failed",
                            "error": .string(reason),
                        ],
                    ])
            }
            try context.enqueue(DownloadJobTypes.download, payload: retry)
        } catch let error as PluginError where error.isHostRefusal {
            context.log(.warn, "the next release is not tried: \(error.message)")
            return .done(["stopped": .string(error.message)])
        } catch {
            return failRequest(payload, reason: "\(reason); the next release could not be handed on: \(error)", outcome: .fail(reason))
        }
        context.log(.warn, "\(reason); removed it from \(jobs.driver.displayName) and trying the next release, '\(next.title)'")
        return .done(["failed_in_client": .string(reason), "next_release": .string(next.title)])
    }

    /// Asks the client, asking again within the poll while it does not have the download.
    private func observe(_ hash: String) async throws(PluginError) -> MonitorObservation {
        var waits = Self.missingRetryDelays[...]
        while true {
            do {
                if let status = try await jobs.driver.status(of: hash) { return .found(status) }
            } catch .authenticationFailed(let message) {
                throw .permanent(message)
            } catch {
                return .unreachable(error.description)
            }
            guard let wait = waits.popFirst(), !context.isCancelled else { return .missing }
            try? await Task.sleep(for: wait)
        }
    }

    private func failRequest(_ payload: MonitorDownloadPayload, reason: String, outcome: JobOutcome) -> JobOutcome {
        context.log(.error, reason)
        if let requestID = payload.requestID {
            try? context.requestTransition(
                requestID: requestID, to: "failed",
                details: [
                    "reason": .string(reason),
                    "download": [
                        "client": .string(jobs.driver.kind), "client_id": .string(payload.infoHash), "status": "failed",
                        "error": .string(reason),
                    ],
                ])
        }
        return outcome
    }

    private func write(_ lines: [MonitorLogLine]) {
        for line in lines {
            let level: PluginLogLevel =
                switch line.level {
                case .info: .info
                case .warn: .warn
                case .error: .error
                }
            context.log(level, line.message, metadata: line.percent.map { ["percent": .int(Int64($0))] } ?? [:])
        }
    }
}
