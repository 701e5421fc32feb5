/// The downloads each client instance still has: the unfinished jobs of the
/// job types routed over `download_clients`, counted by the instance they
/// route to. A reload that would take an instance out of the list while it
/// has any is refused.
struct DownloadsInFlight: Sendable {
    /// Unfinished download jobs by instance name.
    var counts: [String: Int] = [:]

    /// Reads the queues of `jobTypes` and routes each unfinished job with `router`.
    static func count(
        in queues: [String: JobQueue], jobTypes: Set<String>, router: DownloadRouter
    ) async throws(RedisError) -> DownloadsInFlight {
        var result = DownloadsInFlight()
        for jobType in jobTypes.sorted() {
            guard let queue = queues[jobType] else { continue }
            let ids = try await queue.unfinishedJobIDs()
            for payload in try await queue.payloads(of: ids) {
                guard let payload, case .success(let instance) = router.instance(forJobType: jobType, payloadJSON: payload)
                else { continue }
                result.counts[instance, default: 0] += 1
            }
        }
        return result
    }

    /// Why `new` may not replace `old`: each instance `old` lists that `new`
    /// does not, while it has downloads in flight.
    func problems(removing old: [DownloadClientRoute], keeping new: [DownloadClientRoute]) -> [String] {
        old.compactMap { client in
            guard !new.contains(where: { $0.plugin == client.plugin }), let count = counts[client.plugin], count > 0 else {
                return nil
            }
            return "download client '\(client.plugin)' has \(count) download job(s) in flight; removing it would lose them: "
                + "keep it in download_clients with accept_new: false, and remove it once it is idle"
        }
    }
}
