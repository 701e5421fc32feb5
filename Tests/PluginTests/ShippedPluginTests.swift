import PipelineHost
import Testing

/// Every plugin the package ships passes the loader, claims its job types,
/// starts with an empty config and answers a job (for now: "not implemented
/// yet", for good).
@Suite struct ShippedPluginTests {
    static let shipped: [(String, [String])] = [
        ("SearchProwlarr", ["search_indexers", "retry_missing_torrents"]),
        ("DownloadQBittorrent", ["download_torrent", "monitor_download"]),
        ("DownloadTransmission", ["download_torrent", "monitor_download"]),
        ("OrganizeFiles", ["organize_files", "retry_failed_imports"]),
        ("LibraryPlex", ["scan_library", "library_recently_added_check"]),
        ("LibraryABS", ["scan_library", "library_recently_added_check"]),
    ]

    @Test(arguments: shipped.map(\.0))
    func loadsStartsAndAnswers(_ product: String) async throws {
        let plugin = try PluginLoader.load(path: builtPlugin(product))
        let expected = Self.shipped.first { $0.0 == product }!.1
        #expect(plugin.info.jobTypes == expected)
        #expect(plugin.info.buildSignature == PluginLoader.swiftSignature)
        #expect(plugin.info.id.hasPrefix("org.pipeline."))
        for jobType in expected {
            let outcome = try await runJob(product, jobType, payload: "{}", effects: .none)
            #expect(outcome.kind == .fail)
            #expect(outcome.message?.contains("\(jobType) is not implemented yet in \(plugin.info.name)") == true)
        }
    }
}
