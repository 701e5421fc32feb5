// swift-tools-version:6.0
// pipeline-host: the background-job engine of an audiobook acquisition pipeline.
// Layout and the reasons for it: docs/architecture.md.
import PackageDescription

/// The processor plugins that ship with the host. Each is one dynamic library
/// (`lib<Name>.so`) built from `Plugins/<Name>` and loaded by the host through
/// the C ABI in `Sources/PluginABI`; the host never links or imports them.
let shippedPlugins = [
    "SearchProwlarr",
    "DownloadQBittorrent",
    "DownloadTransmission",
    "OrganizeFiles",
    "LibraryPlex",
    "LibraryABS",
]

/// Plugins in plain C that the loader tests use, one per way a plugin can be
/// refused plus a working one. Built from `Tests/PluginTests/Fixtures/<Name>`.
let cFixtures = [
    "FixtureCEcho",
    "FixtureNoEntry",
    "FixtureWrongMajor",
    "FixtureNewerMinor",
    "FixtureSmallStruct",
    "FixtureLargeZeroTail",
    "FixtureLargeDirtyTail",
    "FixtureMissingField",
    "FixtureNullFunction",
    "FixtureDuplicateType",
    "FixtureBadSignature",
    "FixtureInitFails",
    "FixtureDownloadClient",
    "FixtureBrokenDriver",
    "FixtureTorrentDriver",
    "FixtureUsenetDriver",
]

/// Swift plugins that the tests use (built with PluginKit, like the shipped ones).
let swiftFixtures = ["FixtureSwiftEcho"]

/// Linker flags for every plugin: keep the image mapped even if someone calls
/// dlclose (unmapping Swift code crashes the process) and export only the
/// versioned entry symbol.
let pluginLinkerSettings: [LinkerSetting] = [
    .unsafeFlags([
        "-Xlinker", "-z", "-Xlinker", "nodelete",
        "-Xlinker", "--version-script=\(Context.packageDirectory)/Plugins/plugin.exports",
    ])
]

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny")
]

var products: [Product] = [
    .executable(name: "pipeline-host", targets: ["PipelineHostCLI"]),
    .executable(name: "pipeline-standins", targets: ["StandInsCLI"]),
    .library(name: "PipelineHost", targets: ["PipelineHost"]),
    .library(name: "PluginKit", targets: ["PluginKit"]),
    .library(name: "DownloadClientKit", targets: ["DownloadClientKit"]),
    .library(name: "LibraryBackendKit", targets: ["LibraryBackendKit"]),
]
var targets: [Target] = [
    // The contract between host and plugins: C headers only.
    .target(name: "PluginABI"),

    // libc calls Swift cannot make (prctl is variadic): for the plugin runner.
    .target(name: "CHostSupport"),

    // System libraries from Debian's -dev packages.
    .systemLibrary(
        name: "CHiredis", path: "Sources/CHiredis", pkgConfig: "hiredis",
        providers: [.apt(["libhiredis-dev"])]),
    .systemLibrary(
        name: "CLibPQ", path: "Sources/CLibPQ", pkgConfig: "libpq",
        providers: [.apt(["libpq-dev"])]),
    .systemLibrary(
        name: "CLibYAML", path: "Sources/CLibYAML", pkgConfig: "yaml-0.1",
        providers: [.apt(["libyaml-dev"])]),

    // The engine, as a library so that tests drive it directly.
    .target(
        name: "PipelineHost",
        dependencies: [
            "PluginABI", "PipelineJSON", "PipelinePayloads", "TextMatching", "CheckedArithmetic", "CHostSupport", "CHiredis", "CLibPQ",
            "CLibYAML", "DriverJobs", "PluginKit", "PluginHTTP", "DownloadClientKit", "LibraryBackendKit",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ],
        swiftSettings: swiftSettings),

    // The thin `pipeline-host` executable.
    .executableTarget(
        name: "PipelineHostCLI",
        dependencies: [
            "PipelineHost",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Hummingbird", package: "hummingbird"),
        ],
        swiftSettings: swiftSettings),

    // What a Swift plugin author builds on: entry-point export, JSON, outcomes.
    .target(
        name: "PluginKit", dependencies: ["PluginABI", "PipelineJSON", "PipelinePayloads", "CheckedArithmetic"],
        swiftSettings: swiftSettings),

    // JSONValue, shared by the host and PluginKit.
    .target(name: "PipelineJSON", swiftSettings: swiftSettings),

    // Conversions and arithmetic that never trap, for outside numbers (host and plugin kits).
    .target(name: "CheckedArithmetic", swiftSettings: swiftSettings),

    // The payloads the pipeline's job types hand each other.
    .target(name: "PipelinePayloads", dependencies: ["PipelineJSON"], swiftSettings: swiftSettings),

    // Taking a finished download into the library safely (the OrganizeFiles plugin's core).
    .target(name: "LibraryImport", dependencies: ["PipelinePayloads"], swiftSettings: swiftSettings),

    // Comparing book titles and names: normalising, bigram similarity (ranking and library matching).
    .target(name: "TextMatching", swiftSettings: swiftSettings),

    // Ranking an indexer's releases for a book (the SearchProwlarr plugin's core).
    .target(name: "ReleaseSearch", dependencies: ["TextMatching"], swiftSettings: swiftSettings),

    // HTTP for plugins over URLSession (FoundationNetworking): no SwiftNIO in a plugin.
    .target(name: "PluginHTTP", swiftSettings: swiftSettings),

    // What a library-backend plugin author builds on: the backend interface,
    // exported as the ABI's library-backend table (the host runs the jobs).
    .target(name: "LibraryBackendKit", dependencies: ["PluginKit", "PluginHTTP", "CheckedArithmetic"], swiftSettings: swiftSettings),

    // What a download-client plugin author builds on: the client interface,
    // exported as the ABI's download-client table (the host runs the jobs).
    .target(
        name: "DownloadClientKit",
        dependencies: ["PluginKit", "PluginHTTP", "PipelinePayloads", "CheckedArithmetic"],
        swiftSettings: swiftSettings),

    // The domain jobs the host runs over drivers, beside the engine: the
    // download jobs over any download client, the library jobs over any
    // library backend (docs/architecture.md, "Drivers").
    .target(
        name: "DriverJobs",
        dependencies: [
            "PluginKit", "DownloadClientKit", "LibraryBackendKit", "PluginHTTP", "PipelinePayloads", "CheckedArithmetic",
            .product(name: "Crypto", package: "swift-crypto"),
        ],
        swiftSettings: swiftSettings),

    // Prowlarr, Plex and Audiobookshelf as the real servers answer, quirks
    // included: for the tests and for the demo (`pipeline-standins`).
    .target(
        name: "ServiceStandIns",
        dependencies: ["PipelineJSON", .product(name: "Hummingbird", package: "hummingbird")],
        swiftSettings: swiftSettings),
    .executableTarget(
        name: "StandInsCLI",
        dependencies: [
            "ServiceStandIns", "PipelineJSON", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ],
        swiftSettings: swiftSettings),

    .testTarget(
        name: "HostTests",
        dependencies: [
            "PipelineHost", "PluginKit", "DownloadClientKit", "DriverJobs", "PluginHTTP", "LibraryImport", "ReleaseSearch", "PipelinePayloads", "ServiceStandIns",
            "FuzzTargets",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Hummingbird", package: "hummingbird"), .product(name: "NIOCore", package: "swift-nio"),
        ],
        // The news server and the NZB maker the usenet tests run with python3.
        exclude: ["Support/nntp_server.py", "Support/make_nzb.py"],
        swiftSettings: swiftSettings),
    .testTarget(
        name: "PluginTests",
        dependencies: ["PipelineHost", "PluginABI", .product(name: "Logging", package: "swift-log")],
        exclude: ["Fixtures"],
        swiftSettings: swiftSettings),
]

/// What each shipped plugin builds on beyond PluginABI and PluginKit.
let shippedPluginDependencies: [String: [Target.Dependency]] = [
    "DownloadQBittorrent": ["DownloadClientKit", "PluginHTTP"],
    "DownloadTransmission": ["DownloadClientKit", "PluginHTTP", "CheckedArithmetic"],
    "OrganizeFiles": ["LibraryImport", "PipelinePayloads"],
    "LibraryPlex": ["LibraryBackendKit", "PluginHTTP"],
    "LibraryABS": ["LibraryBackendKit", "PluginHTTP"],
    "SearchProwlarr": ["ReleaseSearch", "PluginHTTP", "PipelinePayloads", "CheckedArithmetic"],
]

for name in shippedPlugins {
    products.append(.library(name: name, type: .dynamic, targets: [name]))
    targets.append(
        .target(
            name: name, dependencies: ["PluginABI", "PluginKit"] + shippedPluginDependencies[name, default: []],
            path: "Plugins/\(name)",
            swiftSettings: swiftSettings, linkerSettings: pluginLinkerSettings))
}
/// Plugins written in C against the header alone (the Deluge driver is the
/// worked example of docs/writing-a-download-client.md).
let shippedCPlugins = ["DownloadDeluge", "DownloadNZBGet"]
for name in shippedCPlugins {
    products.append(.library(name: name, type: .dynamic, targets: [name]))
    targets.append(.target(name: name, dependencies: ["PluginABI"], path: "Plugins/\(name)", publicHeadersPath: "."))
}
for name in cFixtures {
    products.append(.library(name: name, type: .dynamic, targets: [name]))
    targets.append(
        .target(
            name: name, dependencies: ["PluginABI"], path: "Tests/PluginTests/Fixtures/\(name)",
            publicHeadersPath: "."))
}
for name in swiftFixtures {
    products.append(.library(name: name, type: .dynamic, targets: [name]))
    targets.append(
        .target(
            name: name, dependencies: ["PluginABI", "PluginKit"],
            path: "Tests/PluginTests/Fixtures/\(name)",
            swiftSettings: swiftSettings, linkerSettings: pluginLinkerSettings))
}

// Fuzzing (scripts/fuzz, docs/security.md): the parsers at the trust boundary
// as targets, a libFuzzer entry, and the replay of the kept corpus in the tests.
targets.append(
    .target(
        name: "FuzzTargets",
        dependencies: [
            "PipelineHost", "DownloadClientKit", "DriverJobs", "LibraryImport",
        ],
        swiftSettings: swiftSettings))
products.append(.executable(name: "pipeline-fuzz", targets: ["PipelineFuzz"]))
targets.append(
    .executableTarget(name: "PipelineFuzz", dependencies: ["FuzzTargets"], path: "Fuzz/PipelineFuzz", swiftSettings: swiftSettings))

// Benchmarks (bench/run): the driver and the no-op processor plugin it loads.
products.append(.executable(name: "pipeline-bench", targets: ["PipelineBench"]))
products.append(.library(name: "BenchNoop", type: .dynamic, targets: ["BenchNoop"]))
targets.append(
    .executableTarget(
        name: "PipelineBench",
        dependencies: [
            "PipelineHost",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ],
        path: "Benchmarks/PipelineBench", swiftSettings: swiftSettings))
targets.append(.target(name: "BenchNoop", dependencies: ["PluginABI"], path: "Benchmarks/NoopPlugin", publicHeadersPath: "."))

let package = Package(
    name: "pipeline-host",
    platforms: [.macOS(.v15)],
    products: products,
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
    ],
    targets: targets
)
