import ArgumentParser
import Foundation
import PipelineJSON
import ServiceStandIns

/// `pipeline-standins`: Prowlarr, Plex and Audiobookshelf stand-ins on free
/// loopback ports, for the demo (scripts/demo). They answer like the real
/// servers (the same code the tests run against); Prowlarr offers the
/// releases given, and both library servers list the books in the library
/// folder, as a server that scanned it would.
@main
struct StandInsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline-standins",
        abstract: "Serve Prowlarr, Plex and Audiobookshelf stand-ins on loopback until stopped.",
        discussion: """
            Prints one JSON line with each server's URL and credentials, then serves until SIGTERM or SIGINT.
            """)

    @Option(name: .long, help: "The library folder the Plex and Audiobookshelf stand-ins list (<author>/<title>/audio files).")
    var library: String

    @Option(
        name: .long,
        help: "A release Prowlarr offers, as 'TITLE|SIZE_BYTES|TORRENT_FILE' (repeatable); its .torrent is served behind the API key.")
    var release: [String] = []

    @Option(
        name: .long,
        help: "A usenet release Prowlarr offers, as 'TITLE|SIZE_BYTES|NZB_FILE' (repeatable); its .nzb is served behind the API key.")
    var usenetRelease: [String] = []

    func run() async throws {
        let prowlarr = try await ProwlarrStandIn()
        for entry in release {
            let (title, size, torrent) = try Self.parsedRelease(entry, option: "--release", file: "TORRENT_FILE")
            prowlarr.add(title: title, size: size, seeders: 1, torrent: torrent)
        }
        for entry in usenetRelease {
            // As the usenet end-to-end test adds one: protocol "usenet" (no
            // seeders or leechers), its .nzb served at its downloadUrl.
            let (title, size, nzb) = try Self.parsedRelease(entry, option: "--usenet-release", file: "NZB_FILE")
            prowlarr.add(title: title, size: size, protocol: "usenet", torrent: nzb)
        }
        let plex = try await PlexStandIn()
        let audiobookshelf = try await AudiobookshelfStandIn()
        plex.watch(folder: library)
        audiobookshelf.watch(folder: library)
        let servers: JSONValue = [
            "prowlarr": ["url": .string(prowlarr.url), "api_key": .string(prowlarr.apiKey)],
            "plex": ["url": .string(plex.url), "token": .string(plex.token), "library_id": .string(plex.libraryID)],
            "audiobookshelf": [
                "url": .string(audiobookshelf.url), "token": .string(audiobookshelf.token),
                "library_id": .string(audiobookshelf.libraryID),
            ],
        ]
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        FileHandle.standardOutput.write(try encoder.encode(servers) + Data("\n".utf8))
        // Serve until stopped; the servers live as long as this task.
        while true {
            try await Task.sleep(for: .seconds(3600))
            withExtendedLifetime((prowlarr, plex, audiobookshelf)) {}
        }
    }

    /// An `option` value 'TITLE|SIZE_BYTES|FILE': the title, the size and the file's content.
    private static func parsedRelease(_ entry: String, option: String, file: String) throws -> (String, Int64, Data) {
        let parts = entry.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, let size = Int64(parts[1]) else {
            throw ValidationError("\(option) '\(entry)' is not TITLE|SIZE_BYTES|\(file)")
        }
        let content: Data
        do {
            content = try Data(contentsOf: URL(fileURLWithPath: parts[2]))
        } catch {
            throw ValidationError("\(option) '\(entry)': cannot read \(parts[2]): \(error.localizedDescription)")
        }
        return (parts[0], size, content)
    }
}
