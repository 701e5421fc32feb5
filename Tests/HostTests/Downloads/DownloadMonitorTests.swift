import DownloadClientKit
@testable import DriverJobs
import Foundation
import Testing

/// The monitor's rules, as a pure function: no client, no clock.
@Suite struct DownloadMonitorTests {
    let monitor = DownloadMonitor(policy: MonitorPolicy(), clientName: "qBittorrent")

    func status(
        _ progress: Double, _ state: DownloadStatus.State = .downloading, size: Int64? = 1_000_000, path: String? = "/dl/Book",
        finalPath: String? = nil, error: String? = nil
    ) -> DownloadStatus {
        DownloadStatus(
            infoHash: String(repeating: "a", count: 40), name: "Book", state: state, progress: progress, sizeBytes: size,
            downloadRate: 1000, contentPath: path, finalSavePath: finalPath, errorMessage: error)
    }

    @Test func theBackoffDoublesFromTheIntervalUpToTheMaximum() {
        let delays = (0...7).map { MonitorPolicy().backoff($0) }
        #expect(delays == [10, 20, 40, 80, 160, 300, 300, 300].map { Duration.seconds($0) })
    }

    @Test func progressKeepsTheIntervalAndStallsBackOff() {
        var state = MonitorState()
        var delays: [Duration] = []
        for progress in [0.1, 0.2, 0.2, 0.2, 0.2, 0.3] {
            guard case .pollAgain(let delay, let next, _, _) = monitor.decide(state, .found(status(progress))) else {
                Issue.record("expected another poll")
                return
            }
            delays.append(delay)
            state = next
        }
        #expect(delays == [10, 10, 20, 40, 80, 10].map { Duration.seconds($0) })
    }

    @Test func pausedQueuedAndCheckingCountAsStalledEvenWhenProgressMoves() {
        for state in [DownloadStatus.State.paused, .queued, .checking, .metadata] {
            let decision = monitor.decide(MonitorState(lastProgress: 0.1), .found(status(0.2, state)))
            guard case .pollAgain(let delay, let next, _, _) = decision else {
                Issue.record("expected another poll for \(state)")
                continue
            }
            #expect(next.stallCount == 1)
            #expect(delay == .seconds(20))
        }
    }

    @Test func aGainCountsAsProgressEvenWhenTheClientSaysStalledAtThatInstant() {
        guard case .pollAgain(let delay, let next, _, _) = monitor.decide(
            MonitorState(lastProgress: 0.1, stallCount: 3), .found(status(0.13, .stalled)))
        else {
            Issue.record("expected another poll")
            return
        }
        #expect(next.stallCount == 0)
        #expect(delay == .seconds(10))
    }

    @Test func aDownloadStillInsideTheTempFolderWaitsEvenWhenThatFolderIsInsideTheSavePath() {
        let inTemp = DownloadStatus(
            infoHash: "h", name: "Book", state: .completed, progress: 1, sizeBytes: 10, contentPath: "/downloads/temp/Book",
            finalSavePath: "/downloads", temporaryPath: "/downloads/temp")
        guard case .pollAgain(_, let next, _, let log) = monitor.decide(MonitorState(), .found(inTemp)) else {
            Issue.record("expected a wait for the move")
            return
        }
        #expect(next.pathWaits == 1)
        #expect(log.contains { $0.message.contains("waiting for qBittorrent to move it") })
        var moved = inTemp
        moved.contentPath = "/downloads/Book"
        guard case .completed("/downloads/Book", _, _) = monitor.decide(next, .found(moved)) else {
            Issue.record("expected completion once moved")
            return
        }
    }

    @Test func progressIsLoggedOncePerStepBelowFivePercentThenEveryFive() {
        var state = MonitorState()
        var logged: [Int] = []
        var written: [Double] = []
        for percent in [0, 0, 1, 1, 3, 4, 5, 6, 9, 12, 12, 37, 38, 99] {
            guard case .pollAgain(_, let next, let progress, let log) = monitor.decide(state, .found(status(Double(percent) / 100)))
            else {
                Issue.record("expected another poll")
                return
            }
            logged += log.compactMap(\.percent)
            written += progress.map { [$0] } ?? []
            state = next
        }
        #expect(logged == [0, 1, 3, 4, 5, 10, 35, 95])
        #expect(written == [0, 1, 3, 4, 5, 6, 9, 12, 37, 38, 99], "the request's progress is written when it changes")
    }

    @Test func theClientAwayBacksOffKeepsGoingAndFailsOnlyAtTheLimit() {
        let policy = MonitorPolicy(maxConnectionFailures: 4)
        let monitor = DownloadMonitor(policy: policy, clientName: "Transmission")
        var state = MonitorState(lastProgress: 0.4)
        var delays: [Duration] = []
        for _ in 1...3 {
            guard case .pollAgain(let delay, let next, let progress, let log) = monitor.decide(state, .unreachable("refused"))
            else {
                Issue.record("expected another poll")
                return
            }
            #expect(progress == nil)
            #expect(log.first?.level == .warn)
            delays.append(delay)
            state = next
        }
        #expect(delays == [20, 40, 80].map { Duration.seconds($0) })
        guard case .failed(let reason, _) = monitor.decide(state, .unreachable("refused")) else {
            Issue.record("expected failure at the limit")
            return
        }
        #expect(reason.contains("Transmission could not be reached for 4 polls in a row"))
        // Back again: the count starts over.
        guard case .pollAgain(_, let next, _, _) = monitor.decide(state, .found(status(0.5))) else { return }
        #expect(next.connectionFailures == 0)
    }

    @Test func aMissingDownloadFailsAfterThePollsInARow() {
        var state = MonitorState()
        for _ in 1...2 {
            guard case .pollAgain(_, let next, _, _) = monitor.decide(state, .missing) else {
                Issue.record("expected another poll")
                return
            }
            state = next
        }
        guard case .failed(let reason, _) = monitor.decide(state, .missing) else {
            Issue.record("expected failure")
            return
        }
        #expect(reason.contains("no longer in qBittorrent"))
    }

    @Test func anErrorReportedByTheClientFails() {
        guard case .failed(let reason, _) = monitor.decide(MonitorState(), .found(status(0.3, .failed, error: "missingFiles")))
        else {
            Issue.record("expected failure")
            return
        }
        #expect(reason == "qBittorrent reports the download in error: missingFiles")
    }

    @Test func aMagnetWithoutMetadataIsNeverComplete() {
        let magnet = status(1, .completed, size: nil, path: nil)
        #expect(!magnet.isComplete)
        guard case .pollAgain = monitor.decide(MonitorState(), .found(magnet)) else {
            Issue.record("expected another poll")
            return
        }
    }

    @Test func aCompleteDownloadStillInTheTempFolderWaitsThenGoesOn() {
        let policy = MonitorPolicy(maxPathWaits: 3)
        let monitor = DownloadMonitor(policy: policy, clientName: "qBittorrent")
        let inTemp = status(1, .completed, path: "/incomplete/Book", finalPath: "/downloads")
        var state = MonitorState()
        var delays: [Duration] = []
        for _ in 1...2 {
            guard case .pollAgain(let delay, let next, _, _) = monitor.decide(state, .found(inTemp)) else {
                Issue.record("expected a wait")
                return
            }
            delays.append(delay)
            state = next
        }
        #expect(delays == [.seconds(2), .seconds(4)])
        guard case .completed(let path, _, let log) = monitor.decide(state, .found(inTemp)) else {
            Issue.record("expected completion after the waits")
            return
        }
        #expect(path == "/incomplete/Book")
        #expect(log.contains { $0.level == .warn })
        // Moved: done at once, the Windows separators of the client notwithstanding.
        let moved = status(1, .completed, path: #"D:\downloads\Book"#, finalPath: "D:/downloads")
        guard case .completed(#"D:\downloads\Book"#, _, _) = monitor.decide(MonitorState(), .found(moved)) else {
            Issue.record("expected completion")
            return
        }
    }
}

@Suite struct PathMappingTests {
    @Test func theLongestWholeComponentPrefixWins() {
        let mappings = PathMappings([
            PathMapping(remote: "/data", local: "/mnt/data"),
            PathMapping(remote: "/data/torrents/", local: "/srv/torrents"),
            PathMapping(remote: #"C:\Downloads"#, local: "/srv/windows"),
        ])
        #expect(mappings.localPath(for: "/data/torrents/Book") == "/srv/torrents/Book")
        #expect(mappings.localPath(for: "/data/other/Book") == "/mnt/data/other/Book")
        #expect(mappings.localPath(for: "/database/Book") == "/database/Book", "a prefix of a name is not a prefix of a path")
        #expect(mappings.localPath(for: #"C:\Downloads\Author\Book"#) == "/srv/windows/Author/Book")
        #expect(mappings.localPath(for: "/data") == "/mnt/data")
        #expect(mappings.localPath(for: "/elsewhere//x/") == "/elsewhere/x")
    }
}

@Suite struct TorrentSourceTests {
    @Test func magnetLinksGiveTheirHashInHexOrBase32() {
        let hex = "735ea7183e2044060fe2c945034dc8985298dff2"
        #expect(MagnetLink.infoHash(of: "magnet:?xt=urn:btih:\(hex.uppercased())&dn=Book") == hex)
        // The same 20 bytes in base32.
        #expect(MagnetLink.infoHash(of: "magnet:?dn=x&xt=urn:btih:ONPKOGB6EBCAMD7CZFCQGTOITBJJRX7S") == hex)
        #expect(MagnetLink.infoHash(of: "magnet:?xt=urn:sha1:abc") == nil)
        #expect(MagnetLink.infoHash(of: "http://example.com") == nil)
    }

    @Test func aTorrentFilesHashIsTheSHA1OfItsInfoDictionaryAsAnotherProgramComputesIt() async throws {
        let directory = try TemporaryDirectory()
        let fixture = try await TorrentFixture(in: directory, sizes: [40_000, 70_000], tracker: "http://127.0.0.1:1/announce")
        let metainfo = try TorrentMetainfo(try fixture.data)
        #expect(metainfo.infoHash == fixture.infoHash)
        #expect(metainfo.name == fixture.name)
    }

    @Test func aBrokenTorrentFileIsRefusedWithWhereItBreaks() {
        let cases: [(String, String)] = [
            ("<html>nope</html>", "starts with a dictionary"),
            ("d4:infod4:name3:abce", "ends inside a dictionary"),
            ("d8:announce3:urle", "no 'info' dictionary"),
            ("d4:info5:helloe", "'info' is not a dictionary"),
            ("d4:infod4:name999:abcee", "runs past the end"),
        ]
        for (text, expected) in cases {
            #expect {
                _ = try TorrentMetainfo(Data(text.utf8))
            } throws: { error in
                String(describing: error).contains(expected)
            }
        }
    }
}
