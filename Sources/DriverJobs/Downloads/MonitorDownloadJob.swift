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
    /// of the client, data and all, blocklist the release for the request,
    /// and hand the next alternate to `download_torrent` (routed anew, so it
    /// goes to the client of its protocol). With no alternate left, search
    /// again, passing over every release blocklisted so far; the request
    /// fails only when that search finds nothing else, its reason listing
    /// what was tried.
    private func failedInClient(_ payload: MonitorDownloadPayload, reason: String) async -> JobOutcome {
        do {
            try await jobs.driver.remove(payload.infoHash, deletingData: true)
        } catch {
            context.log(.warn, "could not remove the failed download \(payload.infoHash) from \(jobs.driver.displayName): \(error)")
        }
        let title = payload.releaseTitle ?? payload.infoHash
        let tried = payload.tried + ["'\(title)': \(reason)"]
        let hash = Self.isInfoHash(payload.infoHash) ? payload.infoHash.lowercased() : nil
        var blocklist = payload.blocklist
        for key in [title, hash].compactMap({ $0 }) where !blocklist.contains(where: { $0.lowercased() == key.lowercased() }) {
            blocklist.append(key)
        }
        var entry: [String: JSONValue] = ["release_title": .string(title), "reason": .string(reason)]
        if let hash { entry["release_id"] = .string(hash) }
        if let indexer = payload.indexer { entry["indexer"] = .string(indexer) }
        if let releaseProtocol = payload.releaseProtocol { entry["protocol"] = .string(releaseProtocol) }
        let next = payload.alternates.first
        let failedDownload: JSONValue = [
            "client": .string(jobs.driver.kind), "client_id": .string(payload.infoHash), "status": "failed", "error": .string(reason),
        ]
        do {
            if let requestID = payload.requestID {
                // Asked first: a cancelled request neither blocklists nor tries anything more.
                try context.requestTransition(
                    requestID: requestID, to: "downloading",
                    details: [
                        "progress": 0, "download": failedDownload, "blocklist": .object(entry),
                        "reason": .string("\(reason); " + (next.map { "trying the next release, '\($0.title)'" } ?? "searching again")),
                    ])
            }
        } catch let error as PluginError where error.isHostRefusal {
            context.log(.warn, "the next release is not tried: \(error.message)")
            return .done(["stopped": .string(error.message)])
        } catch {
            return failRequest(payload, reason: "\(reason); the request could not be updated: \(error)", outcome: .fail(reason))
        }
        if let next {
            let retry = DownloadTorrentPayload(
                requestID: payload.requestID, book: payload.book, release: next, alternates: Array(payload.alternates.dropFirst()),
                tried: tried, blocklist: blocklist)
            do {
                try context.enqueue(DownloadJobTypes.download, payload: retry)
            } catch {
                return failRequest(payload, reason: "\(reason); the next release could not be handed on: \(error)", outcome: .fail(reason))
            }
            context.log(.warn, "\(reason); removed it from \(jobs.driver.displayName), blocklisted it, and trying the next release, '\(next.title)'")
            return .done(["failed_in_client": .string(reason), "next_release": .string(next.title)])
        }
        let summary = tried.count == 1 ? reason : "every release failed in the client: " + tried.joined(separator: "; ")
        guard let requestID = payload.requestID, let book = payload.book else {
            return failRequest(payload, reason: summary, outcome: .fail(summary))
        }
        let search: JSONValue = [
            "request_id": .string(requestID), "book": book, "blocklist": .array(blocklist.map(JSONValue.string)),
            "tried": .array(tried.map(JSONValue.string)),
        ]
        // The move before the search: the host applies a job's effects in
        // order, and the search must find the request awaiting it.
        do {
            try context.requestTransition(
                requestID: requestID, to: "awaiting_search",
                details: ["reason": .string("\(summary); searching again, passing over \(tried.count) failed release(s)")])
        } catch {
            return failRequest(payload, reason: "\(summary); the request could not be updated: \(error)", outcome: .fail(summary))
        }
        do {
            try context.enqueue(DownloadJobTypes.search, payload: search)
        } catch {
            // The request rests at awaiting_search, where retry_missing_torrents finds it.
            let reason = "\(summary); no search could be queued (\(error)): the request waits for the next scheduled search"
            context.log(.error, reason)
            return .fail(reason)
        }
        context.log(.warn, "\(reason); removed it from \(jobs.driver.displayName), blocklisted it, and searching again: no alternate is left")
        return .done(["failed_in_client": .string(reason), "searching_again": true])
    }

    /// Whether `id` is a torrent's info hash (40 hex digits), rather than a
    /// usenet client's own id.
    static func isInfoHash(_ id: String) -> Bool {
        id.utf8.count == 40 && id.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0 | 0x20) }
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
