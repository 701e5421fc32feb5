import DownloadClientKit
import Foundation
import PluginHTTP
import PluginKit

/// One `download_torrent` job: add the chosen release, or failing that its
/// alternates in order, then hand the download to `monitor_download`.
struct DownloadTorrentJob {
    let jobs: DownloadJobs
    let job: Job
    let context: JobContext

    func run() async throws -> JobOutcome {
        let payload = try job.payload(as: DownloadTorrentPayload.self)
        let requestID = payload.requestID
        if let requestID {
            // Asked first, so that a cancelled request adds nothing.
            do {
                try context.requestTransition(requestID: requestID, to: "downloading", details: ["progress": 0])
            } catch let error as PluginError where error.isHostRefusal {
                context.log(.warn, "nothing added: \(error.message)")
                return .done(["skipped": .string(error.message)])
            }
        }
        let outcome = await addFirstUsable(payload)
        // The request moves to `downloading` with a done job; when the job
        // fails for good it moves on to `failed` (the host drops these
        // effects for a retry that is not the last).
        if let requestID, outcome.kind != .done, let message = outcome.message {
            try? context.requestTransition(requestID: requestID, to: "failed", details: ["reason": .string(message)])
        }
        return outcome
    }

    private func addFirstUsable(_ payload: DownloadTorrentPayload) async -> JobOutcome {
        let candidates = Array(([payload.release] + payload.alternates).prefix(jobs.settings.maxReleases))
        var failures: [String] = []
        var worthRetrying = false
        for (index, release) in candidates.enumerated() {
            if context.isCancelled { return .retry("cancelled before a release was added") }
            let label = index == 0 ? "release" : "alternate \(index)"
            let wanted = ReleaseProtocol(rawValue: (release.protocol ?? "torrent").lowercased())
            guard let wanted, jobs.driver.protocols.contains(wanted) else {
                failures.append(
                    "\(label) '\(release.title)': a \(release.protocol ?? "torrent") release, and \(jobs.driver.displayName) takes "
                        + jobs.driver.protocols.map(\.rawValue).sorted().joined(separator: " and "))
                continue
            }
            let item: DownloadItem
            do {
                if wanted == .usenet {
                    let nzb = try await jobs.fetcher.nzb(for: release)
                    item = DownloadItem(name: release.title, source: .nzbFile(nzb), infoHash: nil, options: jobs.settings.addOptions)
                } else {
                    let torrent = try await jobs.fetcher.torrent(for: release)
                    item = DownloadItem(
                        name: release.title, source: torrent.downloadSource, infoHash: torrent.infoHash, options: jobs.settings.addOptions)
                }
            } catch .unauthorized(let message) {
                return .fail(message)
            } catch .unavailable(let message) {
                worthRetrying = true
                failures.append("\(label): \(message)")
                context.log(.warn, "could not fetch the \(label); trying the next: \(message)")
                continue
            } catch {
                failures.append("\(label): \(error)")
                context.log(.warn, "the \(label) is unusable; trying the next: \(error)")
                continue
            }
            let hash: String
            do {
                hash = try await jobs.driver.add(item)
            } catch .rejected(let message) {
                failures.append("\(label) '\(release.title)': \(message)")
                context.log(.warn, "\(jobs.driver.displayName) refused the \(label); trying the next: \(message)")
                continue
            } catch {
                // The client itself is away or refuses us: another release
                // would fare no better.
                return error.pluginError.disposition == .permanent ? .fail(error.description) : .retry(error.description)
            }
            return await handOff(release, hash: hash, payload: payload, index: index, remaining: Array(candidates.dropFirst(index + 1)))
        }
        var summary = "none of the \(candidates.count) release(s) could be added: " + failures.joined(separator: "; ")
        if !payload.tried.isEmpty { summary += "; failed in the client before: " + payload.tried.joined(separator: "; ") }
        return worthRetrying ? .retry(summary) : .fail(summary)
    }

    private func handOff(
        _ release: Release, hash: String, payload: DownloadTorrentPayload, index: Int, remaining: [Release]
    ) async -> JobOutcome {
        let source = release.downloadURL.flatMap(URL.init(string:))?.redactingSecrets ?? release.magnetURL.map(MagnetLink.redactingSecrets)
        do {
            if let requestID = payload.requestID {
                var download: [String: JSONValue] = [
                    "client": .string(jobs.driver.kind), "client_id": .string(hash), "status": "downloading",
                    "release_title": .string(release.title),
                ]
                if let size = release.sizeBytes { download["size_bytes"] = .int(size) }
                if let source { download["source_url"] = .string(source) }
                if let indexer = release.indexer { download["indexer"] = .string(indexer) }
                try context.requestTransition(
                    requestID: requestID, to: "downloading", details: ["progress": 0, "download": .object(download)])
            }
            let next = MonitorDownloadPayload(
                requestID: payload.requestID, book: payload.book, client: jobs.driver.kind, infoHash: hash,
                releaseTitle: release.title, alternates: remaining, tried: payload.tried, blocklist: payload.blocklist,
                indexer: release.indexer, releaseProtocol: release.protocol?.lowercased() ?? "torrent")
            try context.enqueue(DownloadJobTypes.monitor, payload: next, delay: jobs.settings.firstPollDelay)
        } catch {
            // No monitor will watch it (the request was cancelled while the
            // release was fetched, say): take the torrent out again.
            do {
                try await jobs.driver.remove(hash, deletingData: true)
            } catch {
                context.log(.warn, "could not remove \(hash) from \(jobs.driver.displayName) again: \(error)")
            }
            if let refusal = error as? PluginError, refusal.isHostRefusal {
                context.log(.warn, "removed \(hash) from \(jobs.driver.displayName) again: \(refusal.message)")
                return .done(["skipped": .string(refusal.message)])
            }
            return .fail("added \(hash) to \(jobs.driver.displayName) and removed it again: the host refused the follow-up: \(error)")
        }
        context.log(
            .info, "added '\(release.title)' to \(jobs.driver.displayName)" + (index > 0 ? " (alternate \(index))" : ""),
            metadata: ["info_hash": .string(hash)])
        return .done(["info_hash": .string(hash), "client": .string(jobs.driver.kind), "release_title": .string(release.title)])
    }
}
