import Foundation
import PipelineHost
import PipelineJSON
import Testing

/// `cleanup_seeded_torrents` against a real client that has really seeded:
/// the client under test seeds three books, and the other client downloads
/// two of them from it, so that those two reach a ratio of about 1 while the
/// third stays at 0. With a ratio goal of 0.5, the cleanup removes the first
/// with its data, keeps the one below its goal, and keeps the one another
/// open request still uses.
@Suite struct SeedingCleanupTests {
    enum Client: String, CaseIterable, Sendable {
        case qbittorrent, transmission
    }

    /// The client under test, seeding; the other client, downloading.
    struct Swarm {
        let tracker: OpenTracker
        let directory: TemporaryDirectory
        let books: [TorrentFixture]
        let qbittorrent: QBittorrentDaemon
        let transmission: TransmissionDaemon

        /// The ratio the client under test reports for `hash`, or nil while it has none.
        func ratio(_ client: Client, _ hash: String) async throws -> Double? {
            switch client {
            case .qbittorrent: return try await qbittorrent.info(hash)?["ratio"]?.doubleValue
            case .transmission: return try await transmission.torrent(hash, fields: ["uploadRatio"])?["uploadRatio"]?.doubleValue
            }
        }

        func has(_ client: Client, _ hash: String) async throws -> Bool {
            switch client {
            case .qbittorrent: return try await qbittorrent.info(hash) != nil
            case .transmission: return try await transmission.torrent(hash, fields: ["name"]) != nil
            }
        }
    }

    /// Books 0 and 2 are downloaded from the client under test; book 1 is not.
    static func seed(with client: Client) async throws -> Swarm {
        let tracker = try await OpenTracker()
        let directory = try TemporaryDirectory()
        var books: [TorrentFixture] = []
        for name in ["Jane Austen - Emma", "Jane Austen - Persuasion", "Jane Austen - Sense and Sensibility"] {
            let book = try await TorrentFixture(in: directory, name: name, sizes: [300_000, 200_000], tracker: tracker.announce)
            try tracker.allow(book.infoHash)
            books.append(book)
        }
        let downloaded = [books[0], books[2]]
        let qbittorrent = try await QBittorrentDaemon()
        let transmission = try await TransmissionDaemon()
        let elsewhere = directory.path + "/downloaded"
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
        // Transmission never dials loopback peers (download-clients.md, P1):
        // it must be in the swarm, announced, before qBittorrent joins.
        switch client {
        case .qbittorrent:
            for book in downloaded {
                try await transmission.add(book, downloadDir: elsewhere)
                try await RealTransferTests.waitForAnnounce(transmission, book.infoHash)
            }
            for book in books { try await qbittorrent.add(book, savePath: book.parent) }
            try await eventually("Transmission downloaded two books", timeout: .seconds(90), every: .milliseconds(200)) {
                var done = true
                for book in downloaded {
                    done = try await transmission.torrent(book.infoHash, fields: ["percentDone"])?["percentDone"]?.doubleValue == 1 && done
                }
                return done
            }
        case .transmission:
            for book in books {
                try await transmission.add(book, downloadDir: book.parent)
                try await RealTransferTests.waitForAnnounce(transmission, book.infoHash)
            }
            for book in downloaded { try await qbittorrent.add(book, savePath: elsewhere) }
            try await eventually("qBittorrent downloaded two books", timeout: .seconds(90), every: .milliseconds(200)) {
                var done = true
                for book in downloaded { done = try await qbittorrent.info(book.infoHash)?["progress"]?.doubleValue == 1 && done }
                return done
            }
        }
        let swarm = Swarm(tracker: tracker, directory: directory, books: books, qbittorrent: qbittorrent, transmission: transmission)
        try await eventually("the seeder counts what it uploaded", timeout: .seconds(30), every: .milliseconds(250)) {
            var reached = true
            for book in downloaded { reached = (try await swarm.ratio(client, book.infoHash) ?? 0) >= 0.9 && reached }
            return reached
        }
        return swarm
    }

    @Test(arguments: Client.allCases)
    func aTorrentPastItsRatioGoalIsRemovedWithItsDataAndTheOthersStay(_ client: Client) async throws {
        let swarm = try await Self.seed(with: client)
        let (past, below, shared) = (swarm.books[0], swarm.books[1], swarm.books[2])
        #expect(try await swarm.ratio(client, below.infoHash) ?? 0 < 0.5, "book 1 uploaded nothing")
        let config =
            switch client {
            case .qbittorrent: #"url: "\#(swarm.qbittorrent.url)", username: admin, password: "\#(swarm.qbittorrent.password)""#
            case .transmission: #"url: "\#(swarm.transmission.url)", username: tuser, password: "\#(swarm.transmission.password)""#
            }
        let pipeline = try await DownloadPipeline(
            plugin: client == .qbittorrent ? "libDownloadQBittorrent.so" : "libDownloadTransmission.so",
            config: config + ", seed_ratio: 0.5", cleanup: true)
        var requests: [String] = []
        for book in swarm.books {
            let request = try await pipeline.ledger.create(title: book.name, author: "Jane Austen", status: .available).id
            try await pipeline.ledger.transition(
                request, to: .available,
                update: RequestUpdate(download: .init(
                    client: client.rawValue, clientID: book.infoHash, status: "completed", releaseTitle: book.name,
                    savePath: book.parent + "/" + book.name)))
            requests.append(request)
        }
        // Another request, still importing, uses the third book's torrent.
        let importing = try await pipeline.ledger.create(title: "Sense and Sensibility", author: "Jane Austen", status: .downloading).id
        try await pipeline.ledger.transition(
            importing, to: .downloading,
            update: RequestUpdate(download: .init(client: client.rawValue, clientID: shared.infoHash.uppercased(), status: "completed")))
        try await pipeline.ledger.transition(importing, to: .processing)

        let job = try await pipeline.runtime.enqueue("cleanup_seeded_torrents", payloadJSON: "{}")
        try await eventually("the cleanup ran", timeout: .seconds(60), every: .milliseconds(200)) {
            let rows = try await pipeline.postgres.query("SELECT status FROM jobs WHERE job_id = $1", [job]).rows
            if rows == [["failed"]] { throw TestFailure("the cleanup failed") }
            return rows == [["completed"]]
        }
        let result = try await pipeline.postgres.query("SELECT result::text FROM jobs WHERE job_id = $1", [job]).rows
        let tally = try JSONDecoder().decode(JSONValue.self, from: Data((result.first?.first ?? "{}")?.utf8 ?? "{}".utf8))
        #expect(tally["removed"] == [.string(past.infoHash)], "\(tally)")
        #expect(tally["below_goal"] == 1 && tally["shared"] == 1, "\(tally)")

        #expect(try await !swarm.has(client, past.infoHash), "past its goal: out of the client")
        #expect(!FileManager.default.fileExists(atPath: past.parent + "/" + past.name), "and its data deleted")
        for kept in [below, shared] {
            #expect(try await swarm.has(client, kept.infoHash), "\(kept.name) stays in the client")
            #expect(FileManager.default.fileExists(atPath: kept.parent + "/" + kept.name + "/01 - Chapter 1.mp3"), "with its data")
        }
        let statuses = try await pipeline.postgres.query(
            "SELECT request_id, status, error FROM download_history WHERE request_id = ANY($1::text[])",
            ["{" + requests.joined(separator: ",") + "}"]).rows
        let byRequest = Dictionary(uniqueKeysWithValues: statuses.map { ($0[0] ?? "", ($0[1] ?? "", $0[2] ?? nil)) })
        #expect(byRequest[requests[0]]?.0 == "removed" && byRequest[requests[0]]?.1?.contains("ratio") == true, "\(byRequest)")
        #expect(byRequest[requests[1]]?.0 == "completed" && byRequest[requests[2]]?.0 == "completed", "\(byRequest)")
        #expect(try await pipeline.ledger.request(requests[0])?.status == .available, "the request stays available")
        try await pipeline.stop()
    }
}
