import Foundation
import PipelineHost
import PipelineJSON
import Testing

/// Which download client instance each download job goes to: pure, from
/// the `download_clients` list and the job's payload.
@Suite struct DownloadRouterTests {
    static let router = DownloadRouter(
        clients: [
            DownloadClientRoute(plugin: "old_qbit", acceptsNew: false),
            DownloadClientRoute(plugin: "deluge"),
            DownloadClientRoute(plugin: "second_qbit"),
            DownloadClientRoute(plugin: "nzb", protocols: [.usenet]),
        ],
        jobTypes: ["download_torrent", "monitor_download"],
        kinds: ["old_qbit": "qbittorrent", "deluge": "deluge", "second_qbit": "qbittorrent", "nzb": "nzbget"])

    func route(_ payload: String, _ router: DownloadRouter = Self.router, jobType: String = "download_torrent") -> Result<String, JobRouteRefusal> {
        router.instance(forJobType: jobType, payloadJSON: payload)
    }

    /// The seeding cleanup runs once on each torrent client (old_qbit too:
    /// it still seeds what it has), never on a usenet one.
    @Test func theSeedingCleanupRunsOnEachTorrentClient() {
        let cleanup = "cleanup_seeded_torrents"
        #expect(Self.router.route(jobType: cleanup, payloadJSON: "{}") == .success(.each(["old_qbit", "deluge", "second_qbit"])))
        #expect(
            Self.router.route(jobType: cleanup, payloadJSON: #"{"client_instance":"deluge"}"#) == .success(.instance("deluge")),
            "each of the jobs it becomes runs on its instance")
        let usenetOnly = DownloadRouter(
            clients: [DownloadClientRoute(plugin: "nzb", protocols: [.usenet])], jobTypes: [cleanup], kinds: ["nzb": "nzbget"])
        guard case .failure(let refusal) = usenetOnly.route(jobType: cleanup, payloadJSON: "{}") else {
            Issue.record("a list without torrent clients has nothing to clean up")
            return
        }
        #expect(refusal.message.contains("no torrent client"))
    }

    @Test func aNewDownloadGoesToTheFirstClientThatTakesNewWorkForItsProtocol() {
        #expect(route(#"{"release":{"title":"a","protocol":"torrent"}}"#) == .success("deluge"), "old_qbit takes nothing new")
        #expect(route(#"{"release":{"title":"a"}}"#) == .success("deluge"), "a release without a protocol is a torrent")
        #expect(route(#"{"release":{"title":"a","protocol":"usenet"}}"#) == .success("nzb"))
        #expect(route(#"{"release":{"title":"a","protocol":"Usenet"}}"#) == .success("nzb"), "protocols are matched without case")
    }

    @Test func whenNoClientTakesTheChosenReleasesProtocolAnAlternatesDecides() {
        let torrentsOnly = DownloadRouter(
            clients: [DownloadClientRoute(plugin: "qbit")], jobTypes: ["download_torrent"], kinds: ["qbit": "qbittorrent"])
        #expect(route(#"{"release":{"protocol":"usenet"},"alternates":[{"protocol":"usenet"},{"protocol":"torrent"}]}"#, torrentsOnly) == .success("qbit"))
        #expect(route(#"{"release":{"protocol":"usenet"},"alternates":[]}"#, torrentsOnly) == .failure(JobRouteRefusal(
            "no download client takes new usenet downloads: list one under download_clients with protocols: [usenet] and accept_new: true")))
        #expect(route(#"{"release":{"protocol":"carrier-pigeon"}}"#, torrentsOnly) == .failure(JobRouteRefusal(
            "no download client takes new carrier-pigeon downloads: list one under download_clients with protocols: [carrier-pigeon] and accept_new: true")))
    }

    @Test func aDownloadStaysWithTheInstanceThatHasItWhateverAcceptNewSays() {
        #expect(route(#"{"client_instance":"old_qbit","info_hash":"ab"}"#, jobType: "monitor_download") == .success("old_qbit"))
        // Even a payload that also carries a release (a retried download_torrent marked by the host).
        #expect(route(#"{"client_instance":"second_qbit","release":{"protocol":"torrent"}}"#) == .success("second_qbit"))
        #expect(route(#"{"client_instance":"gone","info_hash":"ab"}"#, jobType: "monitor_download") == .failure(JobRouteRefusal(
            "this download is in client 'gone', which download_clients no longer lists: list it again with accept_new: false until its downloads are done")))
        #expect(route(#"{"client_instance":7}"#, jobType: "monitor_download") == .failure(JobRouteRefusal(
            "client_instance must be a string naming a download_clients entry")))
    }

    @Test func aJobWrittenBeforeRoutingGoesToTheFirstInstanceOfItsKind() {
        #expect(route(#"{"client":"qbittorrent","info_hash":"ab"}"#, jobType: "monitor_download") == .success("old_qbit"))
        #expect(route(#"{"client":"transmission","info_hash":"ab"}"#, jobType: "monitor_download") == .failure(JobRouteRefusal(
            "this download is in a transmission client, and download_clients lists none: add the transmission plugin to download_clients (accept_new: false) until its downloads are done")))
        #expect(DownloadRouter.kind(ofPluginID: "org.pipeline.download.qbittorrent") == "qbittorrent")
        #expect(DownloadRouter.kind(ofPluginID: "Deluge") == "deluge")
    }

    @Test func payloadsThatNameNothingAreRefusedSayingWhatIsMissing() {
        #expect(route(#"{"info_hash":"ab"}"#, jobType: "monitor_download") == .failure(JobRouteRefusal(
            "the payload has neither a release nor a client_instance: a monitor_download job needs one to find its download client")))
        #expect(route("[1,2]") == .failure(JobRouteRefusal("the payload is not a JSON object, so no download client can be chosen for it")))
        #expect(route("not json") == .failure(JobRouteRefusal("the payload is not a JSON object, so no download client can be chosen for it")))
    }

    @Test func whatADownloadJobAsksForCarriesItsInstance() throws {
        let router = Self.router
        let marked = router.mark(payloadJSON: #"{"info_hash":"ab","client":"qbittorrent"}"#, ofJobType: "monitor_download", for: "second_qbit")
        #expect(DownloadRouterTests.object(marked) == ["info_hash": "ab", "client": "qbittorrent", "client_instance": "second_qbit"])
        // The host's word wins over what the plugin wrote.
        let overwritten = router.mark(payloadJSON: #"{"client_instance":"deluge"}"#, ofJobType: "monitor_download", for: "second_qbit")
        #expect(DownloadRouterTests.object(overwritten) == ["client_instance": "second_qbit"])
        // Job types not routed over the list are left as they are.
        let organize = #"{"download_path":"/x"}"#
        #expect(router.mark(payloadJSON: organize, ofJobType: "organize_files", for: "second_qbit") == organize)

        let details = router.mark(transitionDetailsJSON: #"{"progress":0,"download":{"client":"qbittorrent","client_id":"ab","status":"downloading"}}"#, for: "old_qbit")
        #expect(DownloadRouterTests.object(details ?? "")?["download"]?["client_instance"] == "old_qbit")
        #expect(router.mark(transitionDetailsJSON: #"{"progress":5}"#, for: "old_qbit") == #"{"progress":5}"#)
        #expect(router.mark(transitionDetailsJSON: nil, for: "old_qbit") == nil)
    }

    static func object(_ json: String) -> [String: JSONValue]? {
        (try? JSONDecoder().decode(JSONValue.self, from: Data(json.utf8)))?.objectValue
    }
}
