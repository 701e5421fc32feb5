import PipelineHost
import Testing

/// Every plugin the package ships passes the loader, claims its job types
/// and answers a job. The job types still planned answer "not implemented
/// yet", for good; the others refuse a config and a payload without their
/// required fields, naming them.
@Suite struct ShippedPluginTests {
    static let shipped: [(String, [String])] = [
        ("SearchProwlarr", ["search_indexers", "retry_missing_torrents"]),
        ("DownloadQBittorrent", ["download_torrent", "monitor_download", "cleanup_seeded_torrents"]),
        ("DownloadTransmission", ["download_torrent", "monitor_download", "cleanup_seeded_torrents"]),
        ("OrganizeFiles", ["organize_files", "retry_failed_imports"]),
        ("LibraryPlex", ["scan_library", "library_recently_added_check"]),
        ("LibraryABS", ["scan_library", "library_recently_added_check"]),
    ]
    static let downloadClients: Set<String> = ["DownloadQBittorrent", "DownloadTransmission"]
    /// The plugins with work in them, and the least config each starts with.
    static let implemented: [String: String] = [
        "DownloadQBittorrent": #"{"url":"http://127.0.0.1:9"}"#,
        "DownloadTransmission": #"{"url":"http://127.0.0.1:9"}"#,
        "OrganizeFiles": #"{"library_root":"/nonexistent","import_roots":["/nonexistent-downloads"]}"#,
        "SearchProwlarr": #"{"url":"http://127.0.0.1:9"}"#,
        "LibraryPlex": #"{"url":"http://127.0.0.1:9","library_id":"3"}"#,
        "LibraryABS": #"{"url":"http://127.0.0.1:9","library_id":"a4c1e6b0"}"#,
    ]
    /// Job types that work through the request ledger (`find_requests`).
    static let ledgerJobs: Set<String> = ["retry_failed_imports", "retry_missing_torrents"]
    static let libraryBackends: Set<String> = ["LibraryPlex", "LibraryABS"]

    @Test(arguments: shipped.map(\.0))
    func loadsStartsAndAnswers(_ product: String) async throws {
        let plugin = try await loadPlugin(builtPlugin(product))
        let expected = Self.shipped.first { $0.0 == product }!.1
        #expect(plugin.info.jobTypes == expected)
        #expect(plugin.info.buildSignature == PluginLoader.swiftSignature)
        #expect(plugin.info.id.hasPrefix("org.pipeline."))
        let config = try #require(Self.implemented[product], "every shipped plugin has work in it")
        for jobType in expected {
            if Self.libraryBackends.contains(product) {
                // Its jobs take no payload: with no server there, the attempt is retried.
                let outcome = try await runJob(product, jobType, payload: "{}", config: config)
                #expect(outcome.kind == .retry)
                #expect(outcome.message?.contains("could not be reached") == true, "\(outcome.message ?? "")")
            } else if Self.ledgerJobs.contains(jobType) {
                // Without a request ledger (no effects offered) there is nothing to retry: said plainly.
                let outcome = try await runJob(product, jobType, payload: "{}", config: config, effects: .none)
                #expect(outcome.kind == .fail)
                #expect(outcome.message?.contains("the host does not offer this here: find requests") == true, "\(outcome.message ?? "")")
            } else if jobType == "cleanup_seeded_torrents" {
                // No seeding goal in the config: nothing to remove, and no client call.
                let outcome = try await runJob(product, jobType, payload: "{}", config: config)
                #expect(outcome.kind == .done, "\(outcome.message ?? "")")
            } else {
                let outcome = try await runJob(product, jobType, payload: "{}", config: config)
                #expect(outcome.kind == .fail)
                #expect(outcome.message?.contains("malformed payload for job type '\(jobType)': missing field") == true)
            }
        }
    }

    @Test(arguments: downloadClients.sorted())
    func aDownloadClientWithoutAURLIsRefusedNamingTheSetting(_ product: String) async throws {
        await #expect {
            _ = try await startPlugin(product, name: "client")
        } throws: { error in
            "\(error)".contains("missing field 'url'") && "\(error)".contains("plugins.client.config")
        }
        await #expect {
            _ = try await startPlugin(product, name: "client", config: #"{"url":"http://x","poll_interval":"soon"}"#)
        } throws: { error in
            "\(error)".contains("poll_interval") && "\(error)".contains("is not a duration")
        }
    }
}
