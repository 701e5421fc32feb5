import DownloadClientKit
@testable import DriverJobs
import Foundation
import PluginKit
import Testing

/// When a torrent has seeded enough: pure rules, no client.
@Suite struct SeedingGoalTests {
    func seeded(ratio: Double?, minutes: Int64?, complete: Bool = true) -> DownloadStatus {
        DownloadStatus(
            infoHash: "h", name: "Book", state: complete ? .completed : .downloading, progress: complete ? 1 : 0.5,
            sizeBytes: 1_000, contentPath: "/dl/Book", ratio: ratio, seedingSeconds: minutes.map { $0 * 60 })
    }

    @Test func eachGoalThatIsOnMustBeMetAndZeroTurnsAGoalOff() {
        let ratioOnly = SeedingGoal(ratio: 1.5)
        #expect(ratioOnly.isMet(by: seeded(ratio: 1.5, minutes: 0)))
        #expect(!ratioOnly.isMet(by: seeded(ratio: 1.49, minutes: 100_000)))
        #expect(!ratioOnly.isMet(by: seeded(ratio: nil, minutes: 100_000)), "a ratio the client does not report is not met")

        let timeOnly = SeedingGoal(minutes: 60)
        #expect(timeOnly.isMet(by: seeded(ratio: 0, minutes: 60)))
        #expect(!timeOnly.isMet(by: seeded(ratio: 50, minutes: 59)))
        #expect(!timeOnly.isMet(by: seeded(ratio: 50, minutes: nil)))

        let both = SeedingGoal(ratio: 1, minutes: 60)
        #expect(both.isMet(by: seeded(ratio: 1, minutes: 60)))
        #expect(!both.isMet(by: seeded(ratio: 1, minutes: 10)) && !both.isMet(by: seeded(ratio: 0.5, minutes: 600)))

        let off = SeedingGoal()
        #expect(off.isOff && !off.isMet(by: seeded(ratio: 100, minutes: 100_000)), "both off: kept for ever")
        #expect(!ratioOnly.isMet(by: seeded(ratio: 5, minutes: 10, complete: false)), "an unfinished download is never removed")
    }

    @Test func anIndexersGoalTakesPrecedenceForItsReleases() {
        let policy = SeedingPolicy(goal: SeedingGoal(ratio: 1), indexerGoals: ["MyAnonamouse": SeedingGoal(ratio: 3, minutes: 4_320)])
        #expect(policy.goal(forIndexer: "myanonamouse") == SeedingGoal(ratio: 3, minutes: 4_320), "names without regard to case")
        #expect(policy.goal(forIndexer: "Some Public Tracker") == SeedingGoal(ratio: 1))
        #expect(policy.goal(forIndexer: nil) == SeedingGoal(ratio: 1))
        #expect(!policy.isOff && SeedingPolicy(indexerGoals: ["x": SeedingGoal()]).isOff)
    }

    @Test func theSettingsAreReadAndCheckedNamingTheKey() throws {
        let settings = try PluginConfiguration(
            json: #"{"seed_ratio": 2, "seed_minutes": 90, "seed_goals_by_indexer": {"MyAnonamouse": {"ratio": 0, "minutes": 4320}}, "cleanup_batch": 20}"#
        ).decode(DownloadJobSettings.self)
        #expect(settings.seeding == SeedingPolicy(
            goal: SeedingGoal(ratio: 2, minutes: 90), indexerGoals: ["MyAnonamouse": SeedingGoal(minutes: 4_320)], batch: 20))
        #expect(try PluginConfiguration(json: "{}").decode(DownloadJobSettings.self).seeding.isOff, "off unless set")
        for (bad, key) in [
            (#"{"seed_ratio": -1}"#, "seed_ratio"), (#"{"seed_ratio": 1e9}"#, "seed_ratio"), (#"{"seed_minutes": -5}"#, "seed_minutes"),
            (#"{"cleanup_batch": 0}"#, "cleanup_batch"), (#"{"cleanup_batch": 501}"#, "cleanup_batch"),
            (#"{"seed_goals_by_indexer": {"x": {"ratio": "lots"}}}"#, "ratio"),
        ] {
            do {
                _ = try PluginConfiguration(json: bad).decode(DownloadJobSettings.self)
                Issue.record("\(bad) was accepted")
            } catch {
                #expect("\(error)".contains(key), "\(bad): \(error)")
            }
        }
    }
}
