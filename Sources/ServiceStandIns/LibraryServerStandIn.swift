import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// A book as a test puts it into a library server's stand-in.
public struct StandInBook: Sendable {
    public var id: String
    public var title: String
    public var author: String
    public var asin: String? = nil
    public var isbn: String? = nil
    /// Unix seconds.
    public var addedAt: Int
    /// False for an ebook-only item (Audiobookshelf lists those too).
    public var hasAudio = true

    public init(
        id: String, title: String, author: String, asin: String? = nil, isbn: String? = nil, addedAt: Int, hasAudio: Bool = true
    ) {
        self.id = id
        self.title = title
        self.author = author
        self.asin = asin
        self.isbn = isbn
        self.addedAt = addedAt
        self.hasAudio = hasAudio
    }
}

/// What the library conformance suite needs of a server stand-in, whichever
/// backend it imitates.
public protocol LibraryServerStandIn: AnyObject, Sendable {
    /// The plugin file that talks to this server.
    var pluginFile: String { get }
    /// The name the plugin reports its items under.
    var backendName: String { get }
    /// The id of the audiobook library on this server.
    var libraryID: String { get }
    var url: String { get }
    var token: String { get }
    var faults: StandInFaults { get }
    /// The books it lists and the scans it was asked for.
    var shelf: StandInShelf { get }
}

public extension LibraryServerStandIn {
    func add(_ book: StandInBook) { shelf.add(book) }
    func remove(_ id: String) { shelf.remove(id) }
    /// Also lists the books found under `root` (`<author>/<title> <asin>/`
    /// folders holding audio), as the server would once it scanned the
    /// library folder: how an import shows up in the end-to-end tests.
    func watch(folder root: String) { shelf.watch(folder: root) }
    /// The scans asked for so far, with the path each named (nil: the whole library).
    var scansRequested: [String?] { shelf.scans }

    /// The library plugin's config for this server (YAML flow members).
    func pluginConfig(token: String? = nil, libraryID: String? = nil, timeoutSeconds: Int = 2, extra: String = "") -> String {
        "url: \"\(url)\", token: \"\(token ?? self.token)\", library_id: \"\(libraryID ?? self.libraryID)\", request_timeout_seconds: \(timeoutSeconds)"
            + (extra.isEmpty ? "" : ", " + extra)
    }
}

/// What a library server stand-in lists: the books a test added, then those
/// in the watched folder; and the scans it was asked for.
public final class StandInShelf: Sendable {
    private let state = Mutex<(books: [StandInBook], scans: [String?], folder: String?)>(([], [], nil))

    public init() {}

    public func add(_ book: StandInBook) { state.withLock { $0.books.append(book) } }
    public func remove(_ id: String) { state.withLock { $0.books.removeAll { $0.id == id } } }
    public func watch(folder root: String) { state.withLock { $0.folder = root } }
    public func recordScan(_ path: String?) { state.withLock { $0.scans.append(path) } }
    public var scans: [String?] { state.withLock { $0.scans } }

    /// The books added, then those found in the watched folder now.
    public var listing: [StandInBook] {
        let (books, folder) = state.withLock { ($0.books, $0.folder) }
        return books + (folder.map(FolderLibrary.books(in:)) ?? [])
    }
}

/// The books a server scanning a library folder finds: one per folder that
/// holds audio, two levels down (`<author>/<title>[ <ASIN>]`), the way an
/// audiobook agent reads the default path template. The id is the folder's
/// path below the root; the added time, the folder's.
public enum FolderLibrary {
    static let audioExtensions: Set<String> = ["m4b", "m4a", "mp3", "flac", "ogg", "opus", "aac"]

    public static func books(in root: String) -> [StandInBook] {
        let files = FileManager.default
        var books: [StandInBook] = []
        for author in ((try? files.contentsOfDirectory(atPath: root)) ?? []).sorted() {
            for folder in ((try? files.contentsOfDirectory(atPath: root + "/" + author)) ?? []).sorted() {
                let path = root + "/" + author + "/" + folder
                let names = (try? files.contentsOfDirectory(atPath: path)) ?? []
                guard names.contains(where: { audioExtensions.contains(($0 as NSString).pathExtension.lowercased()) }) else { continue }
                var words = folder.split(separator: " ").map(String.init)
                var asin: String?
                if let last = words.last, words.count > 1, last.wholeMatch(of: /[A-Z0-9]{10}/) != nil, last.first == "B" {
                    asin = last
                    words.removeLast()
                }
                let added = (try? files.attributesOfItem(atPath: path)[.modificationDate] as? Date) ?? Date()
                books.append(
                    StandInBook(
                        id: author + "/" + folder, title: words.joined(separator: " "), author: author, asin: asin,
                        addedAt: Int(added.timeIntervalSince1970)))
            }
        }
        return books
    }
}

/// Faults a test asks a stand-in to show: the next answers fail with a
/// status and body, or every answer hangs until the server stops.
public final class StandInFaults: Sendable {
    private let state = Mutex<(failures: [(status: Int, body: String)], hangs: Bool, delay: Duration)>(([], false, .zero))

    /// The next `count` API calls answer `status` with `body` (plain text).
    public func fail(next count: Int = 1, status: Int, body: String) {
        state.withLock { $0.failures += Array(repeating: (status, body), count: count) }
    }

    /// Every API call from now on waits without answering.
    public func hang() { state.withLock { $0.hangs = true } }

    /// Every API call from now on answers after `delay` (a slow server).
    public func slow(_ delay: Duration) { state.withLock { $0.delay = delay } }

    /// The planned failure for this call, after waiting out a hang.
    public func injected() async throws -> Response? {
        let (hangs, delay) = state.withLock { ($0.hangs, $0.delay) }
        if hangs { try await Task.sleep(for: .seconds(600)) }
        if delay > .zero { try await Task.sleep(for: delay) }
        guard let failure = state.withLock({ $0.failures.isEmpty ? nil : $0.failures.removeFirst() }) else { return nil }
        return Response(
            status: .init(code: failure.status), headers: [.contentType: "text/plain; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: failure.body)))
    }
}

/// Starts a Hummingbird app for a stand-in on a free loopback port; the
/// task runs it (cancel it to stop). It catches no signals: a test process or
/// `pipeline-standins` stops the way it would without it.
public func startStandIn<Context: RequestContext>(
    _ router: Router<Context>, label: String
) async throws -> (port: Int, task: Task<Void, any Error>) where Context: InitializableFromSource<ApplicationRequestContextSource> {
    let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
    let app = Application(
        router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) },
        logger: Logger(label: label, factory: { _ in SwiftLogNoOpLogHandler() }))
    let task = Task { try await app.runService(gracefulShutdownSignals: []) }
    var iterator = ports.makeAsyncIterator()
    return (await iterator.next() ?? 0, task)
}
