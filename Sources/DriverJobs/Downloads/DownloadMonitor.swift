import DownloadClientKit
import CheckedArithmetic
/// The monitor's timing and limits (settings of every download-client plugin).
public struct MonitorPolicy: Sendable, Equatable {
    /// Between polls while the download progresses.
    public var pollInterval: Duration
    /// The longest wait between polls while it stalls or the client is away.
    public var maxPollInterval: Duration
    /// Polls in a row that may fail to reach the client before the request fails.
    public var maxConnectionFailures: Int
    /// Polls in a row that may find the download gone before the request fails.
    public var missingPolls: Int
    /// Polls that wait for the client to move a finished download out of its temp folder.
    public var maxPathWaits: Int

    public init(
        pollInterval: Duration = .seconds(10), maxPollInterval: Duration = .seconds(300), maxConnectionFailures: Int = 30,
        missingPolls: Int = 3, maxPathWaits: Int = 30
    ) {
        self.pollInterval = pollInterval
        self.maxPollInterval = maxPollInterval
        self.maxConnectionFailures = maxConnectionFailures
        self.missingPolls = missingPolls
        self.maxPathWaits = maxPathWaits
    }

    /// The wait after the `count`-th poll in a row without progress: the poll
    /// interval, doubled each time, at most ``maxPollInterval``
    /// (10 s, 20, 40, 80, 160, then 300 s with the defaults).
    public func backoff(_ count: Int) -> Duration {
        guard count > 0 else { return pollInterval }
        var delay = pollInterval
        for _ in 0..<min(count, 30) {
            delay = delay * 2
            if delay >= maxPollInterval { return maxPollInterval }
        }
        return delay
    }
}

/// What the monitor remembers between two polls (kept in the job's payload).
public struct MonitorState: Sendable, Equatable, Codable {
    /// The progress seen last, 0 to 1.
    public var lastProgress: Double?
    /// Polls in a row without progress.
    public var stallCount: Int
    /// Polls in a row that could not reach the client.
    public var connectionFailures: Int
    /// Polls in a row that found no such download.
    public var missingPolls: Int
    /// Polls spent waiting for the temp-path move.
    public var pathWaits: Int
    /// The last progress step logged: whole percents below 5, then multiples of 5; -1 for none.
    public var loggedStep: Int

    enum CodingKeys: String, CodingKey {
        case lastProgress = "last_progress"
        case stallCount = "stall_count"
        case connectionFailures = "connection_failures"
        case missingPolls = "missing_polls"
        case pathWaits = "path_waits"
        case loggedStep = "logged_step"
    }

    public init(
        lastProgress: Double? = nil, stallCount: Int = 0, connectionFailures: Int = 0, missingPolls: Int = 0,
        pathWaits: Int = 0, loggedStep: Int = -1
    ) {
        self.lastProgress = lastProgress
        self.stallCount = stallCount
        self.connectionFailures = connectionFailures
        self.missingPolls = missingPolls
        self.pathWaits = pathWaits
        self.loggedStep = loggedStep
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        // The payload is outside input (any producer may add the job): every
        // counter is held within 0...maximumCount, the progress within 0...1.
        func count(_ key: CodingKeys, _ fallback: Int) throws -> Int {
            let value = try container.decodeIfPresent(Int64.self, forKey: key) ?? Int64(fallback)
            return Int(min(max(value, Int64(fallback < 0 ? -1 : 0)), Int64(Self.maximumCount)))
        }
        lastProgress = try container.decodeIfPresent(Double.self, forKey: .lastProgress).map { $0.clamped(to: 0...1) }
        stallCount = try count(.stallCount, 0)
        connectionFailures = try count(.connectionFailures, 0)
        missingPolls = try count(.missingPolls, 0)
        pathWaits = try count(.pathWaits, 0)
        loggedStep = try count(.loggedStep, -1)
    }

    /// The largest any counter of a payload is read as.
    public static let maximumCount = 10_000
}

/// What one poll found.
public enum MonitorObservation: Sendable, Equatable {
    /// The client reported the download.
    case found(DownloadStatus)
    /// The client answered, and does not have the download.
    case missing
    /// The client could not be reached.
    case unreachable(String)
}

/// A line the monitor wants in the job's log.
public struct MonitorLogLine: Sendable, Equatable {
    public enum Level: Sendable, Equatable {
        case info
        case warn
        case error
    }

    public var level: Level
    public var message: String
    /// The percent the line reports, for progress lines.
    public var percent: Int?
}

/// What to do after a poll.
public enum MonitorDecision: Sendable, Equatable {
    /// Poll again after `delay`, remembering `state`. `progress` (0 to 100)
    /// is set when the request's progress should be written.
    case pollAgain(after: Duration, state: MonitorState, progress: Double?, log: [MonitorLogLine])
    /// The download is complete at `contentPath` (the client's path).
    case completed(contentPath: String, state: MonitorState, log: [MonitorLogLine])
    /// The download will not complete: fail the request with `reason`.
    case failed(reason: String, log: [MonitorLogLine])
}

/// The monitor's rules, as a pure function from what it remembers and what a
/// poll found to what happens next. No I/O: the plugin does the polling.
///
/// - Progressing: poll again after the poll interval.
/// - No progress (or paused, queued, checking, fetching metadata): back off,
///   doubling the wait up to the maximum.
/// - The client unreachable: back off the same way; the request stays
///   `downloading`; fail only after ``MonitorPolicy/maxConnectionFailures``
///   polls in a row.
/// - The download missing: fail after ``MonitorPolicy/missingPolls`` polls in
///   a row (each poll has already asked again within itself).
/// - The client reports an error: fail.
/// - Complete: if the client moves finished downloads out of a temp folder
///   and the data is not in its final place yet, wait (2 s, 4 s, … 10 s) up
///   to ``MonitorPolicy/maxPathWaits`` times; then it is done.
///
/// Progress is logged once per step: each whole percent below 5, then every
/// multiple of 5; never twice for one step.
public struct DownloadMonitor: Sendable {
    public var policy: MonitorPolicy
    /// The client's name for log lines.
    public var clientName: String

    public init(policy: MonitorPolicy, clientName: String) {
        self.policy = policy
        self.clientName = clientName
    }

    public func decide(_ state: MonitorState, _ observation: MonitorObservation) -> MonitorDecision {
        var next = state
        switch observation {
        case .unreachable(let why):
            next.connectionFailures += 1
            next.missingPolls = 0
            if next.connectionFailures >= policy.maxConnectionFailures {
                return .failed(
                    reason: "\(clientName) could not be reached for \(next.connectionFailures) polls in a row: \(why)",
                    log: [])
            }
            let delay = policy.backoff(next.connectionFailures)
            let line = MonitorLogLine(
                level: .warn,
                message: "\(clientName) could not be reached (\(next.connectionFailures) of \(policy.maxConnectionFailures)); "
                    + "next poll in \(Self.describe(delay)): \(why)")
            return .pollAgain(after: delay, state: next, progress: nil, log: [line])

        case .missing:
            next.connectionFailures = 0
            next.missingPolls += 1
            if next.missingPolls >= policy.missingPolls {
                return .failed(
                    reason: "the download is no longer in \(clientName) (not found in \(next.missingPolls) polls in a row): "
                        + "it was removed there", log: [])
            }
            let line = MonitorLogLine(
                level: .warn,
                message: "the download is not in \(clientName) (\(next.missingPolls) of \(policy.missingPolls)); asking again")
            return .pollAgain(after: policy.pollInterval, state: next, progress: nil, log: [line])

        case .found(let status):
            next.connectionFailures = 0
            next.missingPolls = 0
            if status.state == .failed {
                let words = status.errorMessage.map { ": \($0)" } ?? ""
                return .failed(reason: "\(clientName) reports the download in error\(words)", log: [])
            }
            var log: [MonitorLogLine] = []
            let percent = Int((min(1, max(0, status.progress)) * 100).rounded(.down))
            let step = percent < 5 ? percent : percent / 5 * 5
            if step > next.loggedStep, status.sizeBytes != nil || percent > 0 {
                next.loggedStep = step
                log.append(MonitorLogLine(level: .info, message: Self.progressLine(status, percent: step), percent: step))
            }
            let lastPercent = next.lastProgress.map { Int((min(1, max(0, $0)) * 100).rounded(.down)) }
            let progress = lastPercent == percent ? nil : Double(percent)
            if status.isComplete, let contentPath = status.contentPath {
                if let destination = status.pendingMoveDestination {
                    let finalPath = destination
                    next.pathWaits += 1
                    next.lastProgress = status.progress
                    if next.pathWaits < policy.maxPathWaits {
                        let delay = min(Duration.seconds(10), .seconds(2 * next.pathWaits))
                        log.append(
                            MonitorLogLine(
                                level: .info,
                                message: "complete; waiting for \(clientName) to move it from \(contentPath) to \(finalPath)"))
                        return .pollAgain(after: delay, state: next, progress: progress, log: log)
                    }
                    log.append(
                        MonitorLogLine(
                            level: .warn,
                            message: "\(clientName) has not moved the download to \(finalPath) after \(next.pathWaits) polls; "
                                + "taking it from \(contentPath)"))
                }
                return .completed(contentPath: contentPath, state: next, log: log)
            }
            // Any gain counts (a client shows "stalled" whenever the rate is 0
            // at that instant, between choke rounds), except while it checks
            // data or fetches metadata.
            let progressing =
                ![.checking, .metadata, .paused, .queued].contains(status.state)
                && (next.lastProgress.map { status.progress > $0 } ?? (status.state == .downloading))
            next.stallCount = progressing ? 0 : next.stallCount + 1
            next.lastProgress = status.progress
            if next.stallCount == 1 || (next.stallCount > 0 && next.stallCount % 10 == 0) {
                log.append(
                    MonitorLogLine(
                        level: .info,
                        message: "no progress at \(percent) % (\(status.state.rawValue)); polling less often "
                            + "(\(next.stallCount) in a row)"))
            }
            return .pollAgain(after: policy.backoff(next.stallCount), state: next, progress: progress, log: log)
        }
    }

    static func progressLine(_ status: DownloadStatus, percent: Int) -> String {
        var line = "downloading: \(percent) %"
        if let size = status.sizeBytes, size > 0 {
            let have = Int64(saturating: (Double(size) * status.progress.clamped(to: 0...1)).rounded())
            line += " (\(ByteCount.describe(have)) of \(ByteCount.describe(size))"
            line += status.downloadRate > 0 ? ", \(ByteCount.describe(status.downloadRate))/s)" : ")"
        }
        return line
    }

    static func describe(_ duration: Duration) -> String {
        let milliseconds = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        return milliseconds % 1000 == 0 ? "\(milliseconds / 1000) s" : "\(milliseconds) ms"
    }
}

extension DownloadStatus {
    /// Where a complete download is still to be moved to, while the client
    /// has not moved it out of its temp folder yet; nil once it has (or when
    /// the client moves nothing).
    var pendingMoveDestination: String? {
        guard let contentPath else { return nil }
        if let temporaryPath, PathMappings.path(contentPath, isWithin: temporaryPath) {
            return finalSavePath ?? "its save path"
        }
        if let finalSavePath, !PathMappings.path(contentPath, isWithin: finalSavePath) { return finalSavePath }
        return nil
    }
}

/// Byte counts for people: 686 KB, 1.3 MB.
enum ByteCount {
    static func describe(_ bytes: Int64) -> String {
        let units = ["B", "KB", "MB", "GB", "TB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1000, unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return unit == 0 || value >= 100 ? "\(Int(value.rounded())) \(units[unit])" : "\(String(format: "%.1f", value)) \(units[unit])"
    }
}
