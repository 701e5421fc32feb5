import DownloadClientKit
@testable import DriverJobs
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import PipelinePayloads
import PluginHTTP
import ServiceStandIns
import Synchronization
import Testing

/// Indexer answers meant to exhaust a host or leak its key, against the
/// release fetcher every download client uses (hardening #4 and #5).
@Suite struct FetchHardeningTests {
    /// A server that answers whatever a test sets for a path, and records
    /// the `X-Api-Key` each request came with.
    final class HostileServer: Sendable {
        final class KeyLog: Sendable {
            let keys = Mutex<[String: String]>([:])
        }

        let port: Int
        private let task: Task<Void, any Error>
        private let log = KeyLog()
        var url: String { "http://127.0.0.1:\(port)" }

        init(_ routes: [String: @Sendable () -> Response]) async throws {
            let log = log
            let router = Router()
            router.get("**") { request, _ -> Response in
                let path = request.uri.path
                log.keys.withLock { $0[path] = request.headers[HTTPField.Name("X-Api-Key")!] ?? "" }
                return routes[path]?() ?? Response(status: .notFound)
            }
            (port, task) = try await startStandIn(router, label: "hostile")
        }

        deinit { task.cancel() }

        /// The key a path was asked for with ("" for none), or nil if never asked.
        func key(for path: String) -> String? { log.keys.withLock { $0[path] } }
    }

    static func release(_ url: String) -> Release {
        Release(title: "Emma", downloadURL: url, sizeBytes: 1000, indexer: "test")
    }

    /// 1 GiB of zeros, gzip-compressed (about 1 MiB on the wire).
    static let bomb: Data = {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", "-c",
            "import zlib,sys; c=zlib.compressobj(9, zlib.DEFLATED, 31); z=bytes(1<<20); "
                + "sys.stdout.buffer.write(b''.join(c.compress(z) for _ in range(1024)) + c.flush())",
        ]
        let output = Pipe()
        process.standardOutput = output
        try? process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return data
    }()

    static func residentBytes() -> Int64 {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return (Int64(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
    }

    /// Hardening #4: a small gzip answer that inflates to a gigabyte is
    /// stopped at the cap, counted after decoding; so is a plain large body.
    @Test func aDecompressionBombIsStoppedAtTheCapCountedAfterDecoding() async throws {
        let bomb = try await onOwnThread { Self.bomb }
        #expect(bomb.count > 500_000 && bomb.count < 2_000_000, "the bomb is about 1 MiB: \(bomb.count)")
        let server = try await HostileServer([
            "/bomb": {
                Response(
                    status: .ok, headers: [.contentType: "application/x-bittorrent", .contentEncoding: "gzip"],
                    body: .init(byteBuffer: ByteBuffer(bytes: bomb)))
            },
            "/big": { Response(status: .ok, body: .init(byteBuffer: ByteBuffer(repeating: 0x61, count: 40 << 20))) },
        ])
        let fetcher = ReleaseFetcher(timeout: .seconds(60), apiKey: nil, indexerURL: nil, maximumBytes: 10 << 20)
        let before = Self.residentBytes()
        await #expect(throws: ReleaseFetcher.Failure.self) { _ = try await fetcher.torrent(for: Self.release(server.url + "/bomb")) }
        do {
            _ = try await fetcher.torrent(for: Self.release(server.url + "/bomb"))
        } catch {
            #expect(error.description.contains("Content-Encoding 'gzip'"), "\(error)")
        }
        let grown = Self.residentBytes() - before
        #expect(grown < 400 << 20, "the host did not inflate the bomb: RSS grew by \(grown >> 20) MiB")
        do {
            _ = try await fetcher.torrent(for: Self.release(server.url + "/big"))
            Issue.record("a 40 MiB answer was read whole")
        } catch {
            #expect(error.description.contains("more than 10485760 bytes"), "\(error)")
        }
        // PluginHTTP itself, for every plugin: the same cap on any answer,
        // and no compressed answer (whose decoded size no cap could bound in time).
        let client = HTTPClient(timeout: .seconds(30), maximumBodyBytes: 1 << 20)
        await #expect(throws: HTTPClientError.tooLarge("\(server.url)/big", limit: 1 << 20)) {
            _ = try await client.send(PluginHTTP.HTTPRequest(url: URL(string: server.url + "/big")!))
        }
        await #expect(throws: HTTPClientError.self) {
            _ = try await client.send(PluginHTTP.HTTPRequest(url: URL(string: server.url + "/bomb")!))
        }
    }

    /// Hardening #5: the indexer key goes to the configured indexer only;
    /// every hop must be http(s); an error's excerpt is printable and short.
    @Test func theIndexerKeyGoesToTheIndexerOnlyAndEveryHopIsHTTP() async throws {
        let elsewhere = try await HostileServer(["/steal": { Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "d4:infoe"))) }])
        let junk = "\u{1B}[2J\u{1B}]0;owned\u{07}<html>\n\n" + String(repeating: "\u{0}spam ", count: 4000)
        let indexer = try await HostileServer([
            "/file": { Response(status: .found, headers: [.location: "file:///etc/passwd"]) },
            "/ftp": { Response(status: .found, headers: [.location: "ftp://127.0.0.1/x.torrent"]) },
            "/away": { Response(status: .found, headers: [.location: elsewhere.url + "/steal"]) },
            "/junk": { Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: junk))) },
        ])
        let fetcher = ReleaseFetcher(timeout: .seconds(10), apiKey: "secret-key", indexerURL: URL(string: indexer.url), maximumBytes: 1 << 20)

        // A release that names another host: no key goes there.
        _ = try? await fetcher.torrent(for: Self.release(elsewhere.url + "/steal"))
        #expect(elsewhere.key(for: "/steal") == "", "the key went to a host the release named")
        // A redirect away from the indexer: no key either.
        _ = try? await fetcher.torrent(for: Self.release(indexer.url + "/away"))
        #expect(indexer.key(for: "/away") == "secret-key", "the indexer itself gets it")
        #expect(elsewhere.key(for: "/steal") == "")

        for path in ["/file", "/ftp"] {
            do {
                _ = try await fetcher.torrent(for: Self.release(indexer.url + path))
                Issue.record("\(path) was followed")
            } catch {
                #expect(error.description.contains("not an http(s) URL"), "\(path): \(error)")
            }
        }
        do {
            _ = try await fetcher.torrent(for: Self.release(indexer.url + "/junk"))
            Issue.record("junk was taken for a torrent")
        } catch {
            let message = error.description
            #expect(!message.unicodeScalars.contains { $0.properties.generalCategory == .control }, "\(message.debugDescription)")
            #expect(message.count < 500 && message.contains("<html>"), "\(message)")
        }
    }
}
