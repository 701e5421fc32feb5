import DownloadClientKit
import DriverJobs
import Foundation
import LibraryBackendKit
import PipelineJSON
import PluginABI

extension DriverConformance.Suite {
    /// Add (a .torrent and a magnet, or two NZBs for a usenet client, each
    /// twice), status (known and unknown), remove (with and without data,
    /// and unknown).
    mutating func checkDownloadClient(_ instance: PluginInstance, displayName: String) {
        guard let (tables, makeBinding) = instance.driverBinding(), let table = tables.downloadClient else { return }
        let binding = makeBinding(displayName)
        let ok = PP_DRIVER_OK
        let (testStatus, testMessage, testResult) = binding.invoke("test") { table.test!(binding.state, $0) }
        let version = testResult?["version"]?.stringValue
        record(
            "test answers with the version", testStatus == ok && version != nil,
            testStatus != ok ? "\(Self.statusName(testStatus)): \(testMessage)"
                : version.map { "version \($0)" } ?? "give set_result({\"version\": ...})")
        guard testStatus == ok else { return }

        let takesTorrents = instance.plugin.info.interfaces.downloadClient?.protocols.contains("torrent") ?? true
        let items = takesTorrents ? Self.torrentItems() : Self.usenetItems()
        var ids: [String: String] = [:]
        for item in items {
            var answered: [String] = []
            var failure: String?
            for round in 1...2 {
                let (status, message, result) = binding.invoke("add") { handle in item.item.json.jsonText.withCString { table.add!(binding.state, handle, $0) } }
                guard status == ok else {
                    failure = "add #\(round) returned \(Self.statusName(status)): \(message)"
                        + (round == 2 ? " (adding what the client has must succeed with the same id)" : "")
                    break
                }
                answered.append(result?["id"]?.stringValue ?? "")
            }
            if failure == nil, let hash = item.item.infoHash, answered.contains(where: { $0.lowercased() != hash }) {
                failure = "the adds answered ids \(answered.map { "'\($0)'" }.joined(separator: " and ")), not its info hash \(hash) both times: "
                    + "set_result({\"id\": info hash in lower case}), and succeed with the same id when the client has it already"
            } else if failure == nil, answered[0].isEmpty || answered[0] != answered[1] {
                failure = "the adds answered ids \(answered.map { "'\($0)'" }.joined(separator: " and ")): set_result({\"id\": ...}), "
                    + "and succeed with the same id when the client has it already"
            }
            if failure == nil { ids[item.label] = answered[0] }
            record("adds \(item.label) twice, with the same id", failure == nil, failure ?? "id \(answered[0])")
        }

        let known = ids[items[0].label] ?? items[0].item.infoHash ?? "0"
        let listed = poll(seconds: 10) { () -> (Bool, String) in
            let (status, message, result) = binding.invoke("status") { handle in known.withCString { table.status!(binding.state, handle, $0) } }
            guard status == ok else { return (false, "status returned \(Self.statusName(status)): \(message)") }
            guard let result, result != .null else { return (false, "status answered null for the download it just added") }
            do throws(DownloadClientError) {
                let parsed = try DownloadStatus(id: known, json: result)
                return (true, "state \(parsed.state.rawValue), progress \(parsed.progress)")
            } catch {
                return (false, "\(error)")
            }
        }
        record("status of a known download", listed.0, listed.1)

        // An id the client cannot have: a random info hash, or for usenet a
        // large number (NZBGet's ids are numbers).
        let unknown = takesTorrents
            ? String((0..<40).map { _ in "0123456789abcdef".randomElement()! }) : String(Int.random(in: 900_000_000...999_999_999))
        let (unknownStatus, unknownMessage, unknownResult) = binding.invoke("status") { handle in
            unknown.withCString { table.status!(binding.state, handle, $0) }
        }
        let unknownPassed = unknownStatus == ok && (unknownResult == nil || unknownResult == .null)
        record(
            "status of an unknown id is null", unknownPassed,
            unknownPassed ? "null"
                : unknownStatus != ok ? "status returned \(Self.statusName(unknownStatus)) (\(unknownMessage)); a download the client does not have is PP_DRIVER_OK with set_result(null)"
                : "status answered \(DriverDownloadClient.excerpt(unknownResult)); it must be null for a download the client does not have")

        for (item, deleting) in [(items[1], false), (items[0], true)] {
            let label = deleting ? "with its data" : "without its data"
            guard let id = ids[item.label] else {
                record("removes a download \(label)", false, "not tried: adding \(item.label) failed")
                continue
            }
            let (status, message, _) = binding.invoke("remove") { handle in id.withCString { table.remove!(binding.state, handle, $0, deleting ? 1 : 0) } }
            guard status == ok else {
                record("removes a download \(label)", false, "remove returned \(Self.statusName(status)): \(message)")
                continue
            }
            let gone = poll(seconds: 10) { () -> (Bool, String) in
                let (status, message, result) = binding.invoke("status") { handle in id.withCString { table.status!(binding.state, handle, $0) } }
                if status != ok { return (false, "status after the remove returned \(Self.statusName(status)): \(message)") }
                return result == nil || result == .null ? (true, "gone") : (false, "status still answers \(DriverDownloadClient.excerpt(result)) 10 s after the remove")
            }
            record("removes a download \(label)", gone.0, gone.1)
        }
        let (removeStatus, removeMessage, _) = binding.invoke("remove") { handle in unknown.withCString { table.remove!(binding.state, handle, $0, 1) } }
        record(
            "removing an unknown id succeeds", removeStatus == ok,
            removeStatus == ok ? "PP_DRIVER_OK" : "remove returned \(Self.statusName(removeStatus)) (\(removeMessage)); removing what the client does not have must succeed")
    }

    /// Books (a page, newest first, past the end) and a scan request.
    mutating func checkLibraryBackend(_ instance: PluginInstance, displayName: String) {
        guard let (tables, makeBinding) = instance.driverBinding(), let table = tables.libraryBackend else { return }
        let binding = makeBinding(displayName)
        let ok = PP_DRIVER_OK
        let (testStatus, testMessage, _) = binding.invoke("test") { table.test!(binding.state, $0) }
        record("test answers", testStatus == ok, testStatus == ok ? testMessage : "\(Self.statusName(testStatus)): \(testMessage)")
        guard testStatus == ok else { return }
        struct Failure: Error { var why: String }
        func page(offset: Int, limit: Int, newestFirst: Bool) -> Result<LibraryPage, Failure> {
            let request: JSONValue = ["offset": .int(Int64(offset)), "limit": .int(Int64(limit)), "newest_first": .bool(newestFirst)]
            let (status, message, result) = binding.invoke("books") { handle in request.jsonText.withCString { table.books!(binding.state, handle, $0) } }
            guard status == ok else { return .failure(Failure(why: "books returned \(Self.statusName(status)): \(message)")) }
            do {
                return .success(try LibraryPage(json: result ?? .null))
            } catch {
                return .failure(Failure(why: "books answered \(DriverDownloadClient.excerpt(result)): \(error)"))
            }
        }
        var total = 0
        switch page(offset: 0, limit: 5, newestFirst: false) {
        case .success(let first):
            total = first.total
            let fits = first.listed <= 5 && first.books.count <= first.listed && first.listed <= max(first.total, first.listed)
            record(
                "a page of books", fits,
                fits ? "\(first.books.count) book(s) of \(first.total)" : "a page of limit 5 listed \(first.listed) with \(first.books.count) item(s): listed ≤ limit, items ≤ listed")
        case .failure(let failure):
            record("a page of books", false, failure.why)
        }
        switch page(offset: 0, limit: 3, newestFirst: true) {
        case .success(let newest): record("newest first", newest.books.count <= 3, "\(newest.books.count) book(s)")
        case .failure(let failure): record("newest first", false, failure.why)
        }
        switch page(offset: total + 100, limit: 5, newestFirst: false) {
        case .success(let past):
            record("a page past the end is empty", past.books.isEmpty, past.books.isEmpty ? "empty" : "\(past.books.count) item(s) past the end: answer an empty page")
        case .failure(let failure): record("a page past the end is empty", false, failure.why)
        }
        let (scanStatus, scanMessage, _) = binding.invoke("scan") { table.scan!(binding.state, $0, nil) }
        record("a scan request", scanStatus == ok, scanStatus == ok ? "PP_DRIVER_OK" : "scan returned \(Self.statusName(scanStatus)): \(scanMessage)")
    }

    /// What the suite adds to a torrent client: a .torrent and a magnet it makes.
    static func torrentItems() -> [(label: String, item: DownloadItem)] {
        let tag = UUID().uuidString.prefix(8).lowercased()
        let torrent = TorrentMaker.singleFile(name: "conformance-\(tag).bin", content: randomBytes(48 << 10))
        let magnet = TorrentMaker.singleFile(name: "conformance-\(tag)-magnet.bin", content: randomBytes(20 << 10))
        return [
            ("a .torrent", DownloadItem(name: torrent.name, source: .torrentFile(torrent.metainfo), infoHash: torrent.infoHash)),
            ("a magnet", DownloadItem(name: magnet.name, source: .magnet(magnet.magnet), infoHash: magnet.infoHash)),
        ]
    }

    /// What the suite adds to a usenet client: two NZBs it makes, whose
    /// articles no server has (the client may fail them; it must still list,
    /// report and remove them).
    static func usenetItems() -> [(label: String, item: DownloadItem)] {
        let tag = UUID().uuidString.prefix(8).lowercased()
        func nzb(_ name: String) -> DownloadItem {
            let text = """
                <?xml version="1.0" encoding="UTF-8"?>
                <!DOCTYPE nzb PUBLIC "-//newzBin//DTD NZB 1.1//EN" "http://www.newzbin.com/DTD/nzb/nzb-1.1.dtd">
                <nzb xmlns="http://www.newzbin.com/DTD/2003/nzb">
                <file poster="conformance@pipeline-host" date="1764720000" subject="&quot;\(name).bin&quot; yEnc (1/1)">
                <groups><group>alt.binaries.test</group></groups>
                <segments><segment bytes="1000" number="1">\(name)-1@pipeline-host.invalid</segment></segments>
                </file>
                </nzb>
                """
            return DownloadItem(name: name, source: .nzbFile(Data(text.utf8)), infoHash: nil)
        }
        return [("an NZB", nzb("conformance-\(tag)")), ("a second NZB", nzb("conformance-\(tag)-2"))]
    }

    /// Calls `probe` until it passes or `seconds` have gone, every 200 ms.
    func poll(seconds: Double, _ probe: () -> (Bool, String)) -> (Bool, String) {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            let (passed, detail) = probe()
            if passed || Date() > deadline { return (passed, detail) }
            Thread.sleep(forTimeInterval: 0.2)
        }
    }

    static func randomBytes(_ count: Int) -> Data {
        Data((0..<count).map { _ in UInt8.random(in: 0...255) })
    }
}
