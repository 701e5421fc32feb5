import Foundation
import DownloadClientKit

/// When a finished torrent has seeded enough to be removed: a ratio and a
/// time, each turned off by 0 (`seed_ratio`, `seed_minutes`).
///
/// A goal that is on must be met; both must be when both are on. With both
/// off the torrent is never removed. A ratio the client does not report
/// counts as not met, as does an unknown seeding time.
public struct SeedingGoal: Sendable, Equatable, Decodable {
    /// Uploaded over downloaded; 0: off.
    public var ratio: Double
    /// Minutes spent seeding; 0: off.
    public var minutes: Int

    public init(ratio: Double = 0, minutes: Int = 0) {
        self.ratio = ratio
        self.minutes = minutes
    }

    enum CodingKeys: String, CodingKey {
        case ratio, minutes
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            ratio: try Self.ratio(container, .ratio) ?? 0,
            minutes: try Self.minutes(container, .minutes) ?? 0)
    }

    /// Whether the torrent is kept whatever it has done.
    public var isOff: Bool { ratio == 0 && minutes == 0 }

    /// Whether `status` meets every goal that is on (never when all are off).
    public func isMet(by status: DownloadStatus) -> Bool {
        guard !isOff, status.isComplete else { return false }
        if ratio > 0 {
            guard let reached = status.ratio, reached >= ratio else { return false }
        }
        if minutes > 0 {
            guard let seconds = status.seedingSeconds, seconds / 60 >= Int64(minutes) else { return false }
        }
        return true
    }

    /// The goal in words, for the job's log: "ratio 1.5 and 60 minutes".
    public var summary: String {
        let parts = (ratio > 0 ? ["ratio \(ratio)"] : []) + (minutes > 0 ? ["\(minutes) minutes"] : [])
        return parts.isEmpty ? "none" : parts.joined(separator: " and ")
    }

    /// The most a ratio goal may ask.
    static let maximumRatio = 10_000.0
    /// The most a time goal may ask: ten years.
    static let maximumMinutes = 10 * 366 * 24 * 60

    static func ratio<Key: CodingKey>(_ container: KeyedDecodingContainer<Key>, _ key: Key) throws -> Double? {
        guard let value = try container.decodeIfPresent(Double.self, forKey: key) else { return nil }
        guard value.isFinite, (0...maximumRatio).contains(value) else {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: container, debugDescription: "must be a ratio from 0 (off) to \(Int(maximumRatio)), not \(value)")
        }
        return value
    }

    static func minutes<Key: CodingKey>(_ container: KeyedDecodingContainer<Key>, _ key: Key) throws -> Int? {
        guard let value = try container.decodeIfPresent(Int.self, forKey: key) else { return nil }
        guard (0...maximumMinutes).contains(value) else {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: container, debugDescription: "must be a number of minutes from 0 (off) to \(maximumMinutes), not \(value)")
        }
        return value
    }
}

/// The seeding settings of one download-client instance: its own goal, the
/// goals of particular indexers (which take precedence for their
/// releases), and how many downloads one `cleanup_seeded_torrents` run looks at.
public struct SeedingPolicy: Sendable, Equatable {
    public var goal: SeedingGoal
    /// By indexer name, as the search recorded it (Prowlarr's indexer name).
    public var indexerGoals: [String: SeedingGoal]
    /// Downloads looked at per run, least recently looked at first.
    public var batch: Int

    public init(goal: SeedingGoal = SeedingGoal(), indexerGoals: [String: SeedingGoal] = [:], batch: Int = 50) {
        self.goal = goal
        self.indexerGoals = indexerGoals
        self.batch = batch
    }

    /// The goal for a release from `indexer`: its indexer's when one is set
    /// (names compared without regard to case), else the client's.
    public func goal(forIndexer indexer: String?) -> SeedingGoal {
        guard let indexer else { return goal }
        return indexerGoals.first { $0.key.caseInsensitiveCompare(indexer) == .orderedSame }?.value ?? goal
    }

    /// Whether no goal at all is on: the cleanup has nothing to do.
    public var isOff: Bool { goal.isOff && indexerGoals.values.allSatisfy(\.isOff) }

    /// The most downloads one run may look at.
    static let maximumBatch = 500
}
