import PipelineHost
import Testing

/// The pipeline.yaml committed at the repository's root is the real default:
/// these are the values the issue and the documentation promise.
@Suite struct RepositoryPipelineTests {
    let configuration: PipelineConfiguration

    init() throws {
        configuration = try ConfigurationLoader(environment: [:], defaultPluginDirectory: ProductsDirectory.path)
            .load(file: packageRoot + "/pipeline.yaml")
    }

    @Test func listsTheMissionsJobTypes() {
        #expect(configuration.jobs.map(\.name) == [
            "search_indexers", "download_torrent", "monitor_download", "organize_files", "scan_library",
            "library_recently_added_check", "retry_missing_torrents", "cleanup_seeded_torrents", "retry_failed_imports",
        ])
    }

    @Test func retriesThreeTimesWithExponentialBackoffFromTwoSeconds() {
        for job in configuration.jobs {
            #expect(job.attempts == 3, "\(job.name)")
            #expect(job.backoff.strategy == .exponential, "\(job.name)")
            #expect(job.backoff.delay(afterAttempt: 1) == .seconds(2), "\(job.name)")
            #expect(job.backoff.delay(afterAttempt: 2) == .seconds(4), "\(job.name)")
            #expect(job.retention == Retention(completed: RetentionRule(count: 100), failed: RetentionRule(count: 200)))
        }
    }

    @Test func concurrencyPerJobType() throws {
        let expected = ["search_indexers": 3, "monitor_download": 5, "organize_files": 2, "scan_library": 1]
        for (name, concurrency) in expected {
            #expect(try #require(configuration.job(named: name)).concurrency == concurrency, "\(name)")
        }
    }

    /// Download jobs are routed over the client list, so that a client can be
    /// swapped on a running host without losing a download.
    @Test func downloadJobsAreRoutedOverTheClientList() {
        #expect(configuration.downloadClients == [DownloadClientRoute(plugin: "download_client", protocols: [.torrent], acceptsNew: true)])
        #expect(configuration.downloadJobTypes == ["download_torrent", "monitor_download", "cleanup_seeded_torrents"])
    }

    @Test func recentlyAddedCheckRunsEveryFiveMinutes() throws {
        let schedule = try #require(configuration.job(named: "library_recently_added_check")?.schedule)
        guard case .every(let interval) = schedule.trigger else {
            Issue.record("expected an interval schedule, got \(schedule.summary)")
            return
        }
        #expect(interval == .seconds(300))
        #expect(schedule.enabled)
    }

    @Test func urlsAndSecretsComeFromTheEnvironmentWithLocalDefaults() throws {
        #expect(configuration.redis.url == "redis://127.0.0.1:6379")
        #expect(configuration.redis.prefix == "bull")
        #expect(configuration.postgres.url.hasPrefix("postgres://"))
        #expect(configuration.admin.host == "127.0.0.1" && configuration.admin.port == 8089)
        #expect(configuration.admin.token == "")

        let environment = [
            "REDIS_URL": "redis://:pw@10.0.0.9:6390/2", "DATABASE_URL": "postgres://u@db/pipeline",
            "PIPELINE_ADMIN_TOKEN": "s3cret-0123456789abcdef", "PIPELINE_ADMIN_ADDR": "0.0.0.0:9000", "PROWLARR_API_KEY": "abc123",
            "PIPELINE_PLUGIN_DIR": "/opt/pipeline/plugins", "DOWNLOAD_CLIENT_PLUGIN": "libDownloadTransmission.so",
        ]
        let custom = try ConfigurationLoader(environment: environment, defaultPluginDirectory: "/unused")
            .load(file: packageRoot + "/pipeline.yaml")
        #expect(custom.redis.url == "redis://:pw@10.0.0.9:6390/2")
        #expect(custom.postgres.url == "postgres://u@db/pipeline")
        #expect(custom.admin.token == "s3cret-0123456789abcdef" && custom.admin.host == "0.0.0.0" && custom.admin.port == 9000)
        #expect(custom.pluginDirectory == "/opt/pipeline/plugins")
        #expect(custom.plugin(named: "download_client")?.path == "/opt/pipeline/plugins/libDownloadTransmission.so")
        #expect(custom.plugin(named: "search")?.configJSON.contains("\"api_key\":\"abc123\"") == true)
        #expect(custom.plugin(named: "search")?.configJSON.contains("\"categories\":[3030]") == true)
    }

    @Test func validatesAgainstTheBuiltPlugins() throws {
        let validator = PipelineValidator(
            loader: ConfigurationLoader(environment: [:], defaultPluginDirectory: ProductsDirectory.path), logger: .silent)
        let result = try validator.validate(file: packageRoot + "/pipeline.yaml")
        #expect(result.plugins.members.map(\.plugin.info.id) == [
            "org.pipeline.search.prowlarr", "org.pipeline.download.qbittorrent", "org.pipeline.organize.files",
            "org.pipeline.library.plex",
        ])
        let summary = ValidationSummary.render(result)
        #expect(summary.contains("search_indexers               search            3            medium (5)  3 attempts, exponential 2s"))
        #expect(summary.contains("monitor_download              download_clients  5            high (1)"))
        #expect(summary.contains("DOWNLOAD CLIENT  PROTOCOLS  NEW DOWNLOADS\ndownload_client  torrent    accepted"))
    }
}
