import Foundation
import PipelineHost
import Testing

/// docs/requests.md against the code it documents: the table of moves must
/// be RequestTransitions.legal, status for status.
@Suite struct RequestsDocTests {
    @Test func theTransitionTableOnThePageIsTheOneTheHostEnforces() throws {
        let page = try String(contentsOfFile: packageRoot + "/docs/requests.md", encoding: .utf8)
        var documented: [RequestStatus: Set<RequestStatus>] = [:]
        for line in page.split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 4, let status = RequestStatus(rawValue: cells[1].trimmingCharacters(in: CharacterSet(charactersIn: "`"))) else {
                continue
            }
            let targets = cells[3].matches(of: /`([a-z_]+)`/).compactMap { RequestStatus(rawValue: String($0.1)) }
            documented[status] = Set(targets)
        }
        #expect(Set(documented.keys) == Set(RequestStatus.allCases), "every status has a row")
        for status in RequestStatus.allCases {
            #expect(documented[status] == RequestTransitions.legal[status], "the moves from \(status.rawValue)")
        }
    }
}
