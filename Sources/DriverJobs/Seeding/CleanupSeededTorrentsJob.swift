import DownloadClientKit
import Foundation
import PluginKit

/// One `cleanup_seeded_torrents` run on one download-client instance: the
/// torrents of `available` requests that have met their seeding goal are
/// removed from the client with their data.
///
/// - The downloads looked at are this instance's completed downloads of
///   `available` requests, least recently looked at first (at first, the
///   oldest), at most `cleanup_batch` per run. Each one looked at and kept
///   is touched, so that the next run looks at others.
/// - A torrent that another open request still uses is kept.
/// - A torrent the client no longer has is recorded as removed.
struct CleanupSeededTorrentsJob {
    let jobs: DownloadJobs
    let job: Job
    let context: JobContext

    /// The request statuses that still need a download's data.
    static let openStatuses = [
        "pending", "awaiting_approval", "awaiting_release", "awaiting_search", "searching", "downloading", "processing",
        "downloaded", "awaiting_import", "warn",
    ]

    struct Payload: Decodable {
        /// The instance this run is for, written by the host's router.
        var clientInstance: String?

        enum CodingKeys: String, CodingKey {
            case clientInstance = "client_instance"
        }
    }

    /// What a run did, for its result.
    struct Tally {
        var removed: [String] = []
        var belowGoal = 0
        var shared = 0
        var gone = 0
    }

    func run() async throws -> JobOutcome {
        let payload = try job.payload(as: Payload.self)
        let policy = jobs.settings.seeding
        guard !policy.isOff else {
            context.log(.info, "no seeding goal is set for \(jobs.driver.displayName) (seed_ratio, seed_minutes): nothing is removed")
            return .done(["skipped": "no seeding goal is set"])
        }
        guard jobs.driver.protocols.contains(.torrent) else {
            return .done(["skipped": .string("\(jobs.driver.displayName) takes no torrents")])
        }
        let candidates = try context.findRequests(
            RequestQuery(
                status: ["available"], order: .downloadUpdatedAt, limit: policy.batch,
                download: .init(status: ["completed"], clientInstance: payload.clientInstance, client: jobs.driver.kind)))
        var tally = Tally()
        for request in candidates {
            if context.isCancelled { break }
            guard let download = request.download, let hash = download.clientID else { continue }
            try await look(at: request, download: download, hash: hash, policy: policy, tally: &tally)
        }
        context.log(
            .info,
            "looked at \(candidates.count) seeding download(s) in \(jobs.driver.displayName): removed \(tally.removed.count), "
                + "\(tally.belowGoal) below their goal, \(tally.shared) still used by another request, \(tally.gone) already gone")
        return .done([
            "looked_at": .int(Int64(candidates.count)), "removed": .array(tally.removed.map(JSONValue.string)),
            "below_goal": .int(Int64(tally.belowGoal)), "shared": .int(Int64(tally.shared)), "gone": .int(Int64(tally.gone)),
        ])
    }

    private func look(
        at request: RequestSnapshot, download: RequestSnapshot.DownloadRecord, hash: String, policy: SeedingPolicy, tally: inout Tally
    ) async throws {
        let goal = policy.goal(forIndexer: download.indexer)
        let status: DownloadStatus?
        do {
            status = try await jobs.driver.status(of: hash)
        } catch {
            // The client is away or refuses us: the next run tries again.
            throw error.pluginError
        }
        guard let status else {
            record(request, hash: hash, status: "removed", note: "no longer in \(jobs.driver.displayName)")
            tally.gone += 1
            return
        }
        guard goal.isMet(by: status) else {
            touch(request, hash: hash)
            tally.belowGoal += 1
            return
        }
        let sharing = try context.findRequests(
            RequestQuery(status: Self.openStatuses, limit: 1, download: .init(clientID: hash)))
        if let other = sharing.first {
            context.log(.info, "kept '\(status.name)': request \(other.id) (\(other.status)) still uses it")
            touch(request, hash: hash)
            tally.shared += 1
            return
        }
        do {
            try await jobs.driver.remove(hash, deletingData: true)
        } catch {
            throw error.pluginError
        }
        let seeded = [status.ratio.map { String(format: "ratio %.2f", $0) }, status.seedingSeconds.map { "\($0 / 60) minutes" }]
            .compactMap { $0 }.joined(separator: ", ")
        record(request, hash: hash, status: "removed", note: "seeded \(seeded) (goal: \(goal.summary)); removed with its data")
        context.log(
            .info, "removed '\(status.name)' from \(jobs.driver.displayName) with its data: seeded \(seeded), goal \(goal.summary)",
            metadata: ["info_hash": .string(hash), "request_id": .string(request.id)])
        tally.removed.append(hash)
    }

    /// Marks the download looked at, so that the next run takes others first.
    private func touch(_ request: RequestSnapshot, hash: String) {
        record(request, hash: hash, status: "completed", note: nil)
    }

    private func record(_ request: RequestSnapshot, hash: String, status: String, note: String?) {
        var download: [String: JSONValue] = ["client": .string(jobs.driver.kind), "client_id": .string(hash), "status": .string(status)]
        if let note { download["error"] = .string(note) }
        do {
            try context.requestTransition(requestID: request.id, to: "available", details: ["download": .object(download)])
        } catch {
            context.log(.warn, "could not record the download of request \(request.id): \(error)")
        }
    }
}
