import Foundation
import ServiceStandIns
import PluginHTTP
import Testing

/// The stand-ins answer like the real servers, quirks included
/// (../shared/research/service-apis.md §2 and §3): what the library plugins
/// are tested against must be what they meet in the field.
@Suite struct LibraryStandInTests {
    let http = HTTPClient(timeout: .seconds(5))

    func get(_ url: String, _ headers: [String: String] = [:], method: String = "GET") async throws -> HTTPResponse {
        try await http.send(HTTPRequest(method: method, url: try #require(URL(string: url)), headers: headers))
    }

    @Test func plexSendsXMLUnlessAskedForJSONAndItsRefusalIsAnHTMLPage() async throws {
        let plex = try await PlexStandIn()
        plex.add(StandInBook(id: "12", title: "Dune & Sons", author: "Frank Herbert", asin: "B002V1OF70", addedAt: 1_700_000_000))
        let xml = try await get("\(plex.url)/library/sections/3/all?type=9", ["X-Plex-Token": plex.token])
        #expect(xml.status == 200 && xml.header("content-type")?.hasPrefix("text/xml") == true)
        #expect(xml.text.contains(#"title="Dune &amp; Sons""#) && xml.text.contains(#"guid="com.plexapp.agents.audnexus://B002V1OF70_us?lang=en""#))
        let json = try await get(
            "\(plex.url)/library/sections/3/all?type=9&X-Plex-Token=\(plex.token)", ["Accept": "application/json"])
        let container = try #require(try JSONSerialization.jsonObject(with: json.body) as? [String: Any])["MediaContainer"] as? [String: Any]
        let album = try #require((container?["Metadata"] as? [[String: Any]])?.first)
        #expect(album["ratingKey"] as? String == "12", "ids are strings")
        #expect(album["addedAt"] as? Int == 1_700_000_000, "times in Unix seconds")
        let refused = try await get("\(plex.url)/library/sections/3/all", ["X-Plex-Token": "nope"])
        #expect(refused.status == 401 && refused.header("content-type") == "text/html" && refused.text.contains("<h1>401 Unauthorized</h1>"))
    }

    @Test func plexLeavesMetadataOutOfAnEmptyContainerAndScansAnswerWithAnEmptyBody() async throws {
        let plex = try await PlexStandIn()
        let json = try await get("\(plex.url)/library/sections/3/all", ["X-Plex-Token": plex.token, "Accept": "application/json"])
        #expect(json.text.contains(#""size":0"#) && !json.text.contains("Metadata"))
        let scan = try await get("\(plex.url)/library/sections/3/refresh?path=%2Fsrv%2Fa%20b", ["X-Plex-Token": plex.token])
        #expect(scan.status == 200 && scan.body.isEmpty)
        #expect(plex.scansRequested == ["/srv/a b"])
    }

    @Test func audiobookshelfRefusesEveryAPIPathWithBareUnauthorizedTextBeforeRouting() async throws {
        let abs = try await AudiobookshelfStandIn()
        for path in ["/api/libraries", "/api/no/such/route"] {
            let refused = try await get(abs.url + path)
            #expect(refused.status == 401 && refused.text == "Unauthorized" && refused.header("content-type") == nil, "\(path)")
        }
        let unknown = try await get(abs.url + "/api/no/such/route", ["Authorization": "Bearer \(abs.token)"])
        #expect(unknown.status == 404 && unknown.text.contains("Cannot GET /api/no/such/route"))
        #expect(try await get(abs.url + "/ping").text == #"{"success":true}"#, "ping needs no token")
        #expect(try await get(abs.url + "/healthcheck").text == "OK")
    }

    @Test func audiobookshelfPagesFromZeroAndListsEverythingWithoutALimit() async throws {
        let abs = try await AudiobookshelfStandIn()
        for index in 0..<5 {
            abs.add(StandInBook(id: "i\(index)", title: "Book \(index)", author: "A", isbn: index == 0 ? "9780593135204" : nil, addedAt: 1_700_000_000 + index))
        }
        func listing(_ query: String) async throws -> [String: Any] {
            let response = try await get("\(abs.url)/api/libraries/\(abs.libraryID)/items?\(query)&token=\(abs.token)")
            #expect(response.status == 200)
            return try #require(try JSONSerialization.jsonObject(with: response.body) as? [String: Any])
        }
        func ids(_ page: [String: Any]) -> [String] { (page["results"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String } }
        #expect(ids(try await listing("limit=2&page=0")) == ["i0", "i1"])
        #expect(ids(try await listing("limit=2&page=2")) == ["i4"])
        let all = try await listing("x=1")
        #expect(ids(all).count == 5 && all["total"] as? Int == 5 && all["sortBy"] == nil, "no limit: all; no sort: no sortBy")
        let newest = try await listing("sort=addedAt&desc=1&limit=1")
        #expect(ids(newest) == ["i4"] && newest["sortBy"] as? String == "addedAt" && newest["sortDesc"] as? Bool == true)
        let first = try #require((all["results"] as? [[String: Any]])?.first)
        let metadata = (first["media"] as? [String: Any])?["metadata"] as? [String: Any]
        #expect(metadata?["authorName"] as? String == "A" && metadata?["authors"] == nil, "the minified shape")
        #expect(first["addedAt"] as? Int == 1_700_000_000_000, "epoch milliseconds")
        let bad = try await get("\(abs.url)/api/libraries/\(abs.libraryID)/items?limit=-1", ["Authorization": "Bearer \(abs.token)"])
        #expect(bad.status == 400 && bad.text == "Invalid request. limit must be a positive integer")
        let missing = try await get("\(abs.url)/api/libraries/nope/items", ["Authorization": "Bearer \(abs.token)"])
        #expect(missing.status == 404 && missing.text == "Library not found" && missing.header("content-type")?.hasPrefix("text/html") == true)
    }

    @Test func audiobookshelfScansOnPostOnlyAnsweringPlainOK() async throws {
        let abs = try await AudiobookshelfStandIn()
        let scan = try await get("\(abs.url)/api/libraries/\(abs.libraryID)/scan", ["Authorization": "Bearer \(abs.token)"], method: "POST")
        #expect(scan.status == 200 && scan.text == "OK" && scan.header("content-type")?.hasPrefix("text/plain") == true)
        let viaGet = try await get("\(abs.url)/api/libraries/\(abs.libraryID)/scan", ["Authorization": "Bearer \(abs.token)"])
        #expect(viaGet.status == 404 && viaGet.text.contains("Cannot GET"))
        #expect(abs.scansRequested.count == 1)
        let notAdmin = try await AudiobookshelfStandIn(isAdmin: false)
        let forbidden = try await get(
            "\(notAdmin.url)/api/libraries/\(notAdmin.libraryID)/scan", ["Authorization": "Bearer \(notAdmin.token)"], method: "POST")
        #expect(forbidden.status == 403 && forbidden.text == "Forbidden")
    }
}
