import PipelineHost
import PipelinePayloads
import Testing

/// The request state machine: the pure table, and the ledger applying it on
/// a real PostgreSQL for every pair of statuses.
@Suite struct RequestLedgerTests {
    static let pairs = RequestStatus.allCases.flatMap { from in RequestStatus.allCases.map { (from, $0) } }

    @Test func theTableIsTheRule() {
        for (from, to) in Self.pairs {
            let verdict = RequestTransitions.verdict(from: from, to: to)
            if from == to {
                #expect(verdict == .unchanged)
            } else if RequestTransitions.legal[from]!.contains(to) {
                #expect(verdict == .move, "\(from) → \(to)")
            } else {
                guard case .refused(let reason) = verdict else {
                    Issue.record("\(from) → \(to) should be refused")
                    continue
                }
                #expect(reason.contains(from.rawValue) || from == .cancelled)
            }
        }
        // Bugs of the system we replace, fixed:
        #expect(RequestTransitions.legal[.cancelled]!.isEmpty, "nothing may overwrite cancelled")
        #expect(RequestTransitions.verdict(from: .cancelled, to: .downloading) == .refused("the request was cancelled; nothing may change it"))
        #expect(RequestTransitions.verdict(from: .searching, to: .pending) != .move, "a manual search cannot overwrite searching")
        for status in RequestTransitions.cancellable { #expect(RequestTransitions.legal[status]!.contains(.cancelled)) }
        for status in RequestStatus.allCases where ![.available, .cancelled, .denied].contains(status) {
            #expect(RequestTransitions.legal[status]!.contains(.available), "a library match makes \(status) available")
        }
    }

    @Test func everyLegalMoveSucceedsAndEveryIllegalOneIsRefusedOnPostgreSQL() async throws {
        let client = try await PostgresServer.start().client()
        try await Migrations.run(on: client)
        let ledger = RequestLedger(client: client)
        for (index, (from, to)) in Self.pairs.enumerated() {
            let id = "r\(index)"
            _ = try await ledger.create(id: id, title: "Dune", author: "Frank Herbert", status: from)
            let verdict = RequestTransitions.verdict(from: from, to: to)
            do {
                let previous = try await ledger.transition(id, to: to, reason: "test")
                #expect(verdict != .unchanged || previous == to)
                #expect(verdict == .move || verdict == .unchanged, "\(from) → \(to) should have been refused")
                #expect(try await ledger.request(id)?.status == to)
            } catch {
                guard case .refused(let refusedID, let refusedFrom, let refusedTo, let reason) = error else {
                    Issue.record("unexpected \(error)")
                    continue
                }
                #expect(refusedID == id && refusedFrom == from && refusedTo == to)
                #expect(!reason.isEmpty)
                if case .refused = verdict {} else { Issue.record("\(from) → \(to) should have succeeded") }
                #expect(try await ledger.request(id)?.status == from, "a refused move changes nothing")
            }
        }
        let missing = await #expect(throws: RequestLedgerError.self) { try await ledger.transition("nope", to: .searching) }
        #expect(missing == .notFound("nope"))
    }

    @Test func aLibraryMatchResetsTheCounters() async throws {
        let client = try await PostgresServer.start().client()
        try await Migrations.run(on: client)
        let ledger = RequestLedger(client: client)
        _ = try await ledger.create(id: "r", title: "Dune", author: "Frank Herbert", status: .awaitingImport)
        try await client.query("UPDATE requests SET import_attempts = 4 WHERE id = 'r'")
        try await ledger.transition("r", to: .available)
        #expect(try await client.query("SELECT import_attempts, progress FROM requests").rows == [["0", "100"]])
    }

    @Test func findingRequestsSelectsByStatusOrdersOldestFirstAndCarriesTheBookAndLatestDownload() async throws {
        let client = try await PostgresServer.start().client()
        try await Migrations.run(on: client)
        let ledger = RequestLedger(client: client)
        _ = try await ledger.create(
            NewRequest(id: "a", title: "Piranesi", author: "Susanna Clarke", isbn: "9781635575637", releaseDate: "2020-09-15"),
            status: .searching)
        try await ledger.transition("a", to: .awaitingSearch, reason: "nothing found")
        _ = try await ledger.create(NewRequest(id: "b", title: "Emma", author: "Jane Austen"), status: .searching)
        try await ledger.transition("b", to: .awaitingSearch)
        _ = try await ledger.create(NewRequest(id: "c", title: "Dune", author: "Frank Herbert"), status: .downloading)
        for (status, path) in [("failed", nil), ("completed", "/downloads/Dune")] as [(String, String?)] {
            try await ledger.transition(
                "c", to: .downloading,
                update: RequestUpdate(download: .init(client: "transmission", clientID: "h-\(status)", status: status, releaseTitle: "Dune [M4B]", savePath: path)))
        }
        // A search moves the request to searching: that stamps last_search_at and counts the attempt.
        try await ledger.transition("b", to: .searching)
        try await ledger.transition("b", to: .awaitingSearch)

        let waiting = try await ledger.find(RequestQuery(status: ["awaiting_search"], order: .lastSearchAt))
        #expect(waiting.map(\.id) == ["a", "b"], "never searched first")
        #expect(waiting[1].searchAttempts == 1 && waiting[1].lastSearchAt != nil && waiting[0].lastSearchAt == nil)
        #expect(waiting[0].book == ["title": "Piranesi", "author": "Susanna Clarke", "isbn": "9781635575637", "release_date": "2020-09-15", "year": "2020"])
        #expect(waiting[0].statusReason == "nothing found")
        #expect(try await ledger.find(RequestQuery(status: ["awaiting_search"], limit: 1)).count == 1)

        let dune = try #require(try await ledger.snapshot("c"))
        #expect(dune.download == .init(client: "transmission", clientID: "h-completed", releaseTitle: "Dune [M4B]", status: "completed", savePath: "/downloads/Dune"))
        #expect(dune.importPayload?.downloadPath == "/downloads/Dune")

        for bad in [RequestQuery(status: []), RequestQuery(status: ["lost"]), RequestQuery(status: ["failed"], limit: 501)] {
            await #expect(throws: RequestLedgerError.self, "\(bad)") { try await ledger.find(bad) }
        }
        await #expect(throws: RequestLedgerError.self) { try await ledger.create(NewRequest(title: "X", author: "Y", releaseDate: "soon")) }
    }

    /// What the seeding cleanup asks for: requests by their latest download's
    /// status, instance (or, recorded without one, client kind) and client
    /// id, least recently touched download first.
    @Test func findingRequestsFiltersByTheirLatestDownload() async throws {
        let client = try await PostgresServer.start().client()
        try await Migrations.run(on: client)
        let ledger = RequestLedger(client: client)
        func add(_ id: String, _ status: RequestStatus, client: String, instance: String?, hash: String, download: String) async throws {
            _ = try await ledger.create(NewRequest(id: id, title: "Book \(id)", author: "A"), status: .downloading)
            try await ledger.transition(
                id, to: .downloading,
                update: RequestUpdate(download: .init(
                    client: client, clientID: hash, status: download, releaseTitle: "R \(id)", clientInstance: instance, indexer: "MyAnonamouse")))
            if status != .downloading {
                try await ledger.transition(id, to: .processing)
                try await ledger.transition(id, to: .downloaded)
                try await ledger.transition(id, to: status)
            }
        }
        try await add("old", .available, client: "qbittorrent", instance: "qbit_home", hash: "AAAA", download: "completed")
        try await add("legacy", .available, client: "qbittorrent", instance: nil, hash: "bbbb", download: "completed")
        try await add("elsewhere", .available, client: "qbittorrent", instance: "qbit_seedbox", hash: "cccc", download: "completed")
        try await add("gone", .available, client: "qbittorrent", instance: "qbit_home", hash: "dddd", download: "removed")
        try await add("open", .downloading, client: "qbittorrent", instance: "qbit_home", hash: "aaaa", download: "downloading")
        // Touch "old": it goes behind "legacy".
        try await ledger.transition(
            "old", to: .available, update: RequestUpdate(download: .init(client: "qbittorrent", clientID: "AAAA", status: "completed")))

        let mine = try await ledger.find(
            RequestQuery(
                status: ["available"], order: .downloadUpdatedAt,
                download: .init(status: ["completed"], clientInstance: "qbit_home", client: "qbittorrent")))
        #expect(mine.map(\.id) == ["legacy", "old"], "this instance's and the unrouted ones of its kind, least recently touched first")
        #expect(mine.last?.download?.indexer == "MyAnonamouse" && mine.last?.download?.clientInstance == "qbit_home")
        let sharing = try await ledger.find(
            RequestQuery(status: ["downloading", "processing"], limit: 1, download: .init(clientID: "aaaa")))
        #expect(sharing.map(\.id) == ["open"], "info hashes compare without regard to case")
        let byKind = try await ledger.find(RequestQuery(status: ["available"], download: .init(client: "qbittorrent")))
        #expect(Set(byKind.map(\.id)) == ["old", "legacy", "elsewhere", "gone"])
        // A quote or a brace in a filter is a value, never SQL or another array element.
        #expect(try await ledger.find(RequestQuery(status: ["available"], download: .init(clientID: #"x"},{"' OR 1=1 --"#))).isEmpty)
        await #expect(throws: RequestLedgerError.self) {
            try await ledger.find(RequestQuery(status: ["available"], download: .init(status: ["seeding"])))
        }
    }
}
