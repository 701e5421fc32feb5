import CheckedArithmetic
import Foundation
import PluginHTTP
import PluginKit

/// The plugin of a library backend: the library job types, written once over
/// any ``LibraryBackend``. Export it from the backend's library:
///
/// ```swift
/// @c public func pipeline_plugin_entry_v1(_ major: UInt32, _ minor: UInt32)
///     -> UnsafePointer<pp_plugin_descriptor>?
/// {
///     PluginExport.descriptor(for: LibraryBackendPlugin<JellyfinServer>.self, hostMajor: major, hostMinor: minor)
/// }
/// ```
///
/// Its config: `url`, `token`, `library_id` (``LibraryServerSettings``) and
/// the keys of ``LibraryBackendSettings``. The job types:
///
/// - `scan_library`: the whole listing, page by page, reported as complete
///   (the host removes items the backend no longer lists, then matches). With
///   `{"refresh": true}` in the payload (an import's follow-up) it instead
///   asks the server to scan and, `scan_settle_seconds` later, reads the
///   newest books with a `library_recently_added_check`.
/// - `library_recently_added_check`: the `recently_added` newest books.
///
/// The host matches what is reported against open requests (ASIN, ISBN,
/// then title and author) and moves the matched ones to `available`.
public struct LibraryBackendPlugin<Backend: LibraryBackend>: PipelinePlugin {
    public static var jobTypes: [String] { ["scan_library", "library_recently_added_check"] }
    public static var info: PluginInfo { Backend.pluginInfo }

    public let backend: Backend
    public let settings: LibraryBackendSettings

    /// The config keys of the server. `library_id` may be written as a
    /// number (Plex's keys are: `library_id: 3`, or `${LIBRARY_ID}` set to 3).
    struct ServerKeys: Decodable {
        var url: String?
        var token: String?
        var libraryID: String?

        enum CodingKeys: String, CodingKey {
            case url, token
            case libraryID = "library_id"
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            url = try container.decodeIfPresent(String.self, forKey: .url)
            token = try container.decodeIfPresent(String.self, forKey: .token)
            if let number = try? container.decodeIfPresent(Int64.self, forKey: .libraryID) {
                libraryID = String(number)
            } else {
                libraryID = try container.decodeIfPresent(String.self, forKey: .libraryID)
            }
        }
    }

    public init(configuration: PluginConfiguration, host: PluginHost) throws {
        let keys = try configuration.decode(ServerKeys.self)
        settings = try configuration.decode(LibraryBackendSettings.self)
        guard let url = keys.url.flatMap(URL.serverBase) else {
            throw PluginError.permanent("bad plugin config: url '\(keys.url ?? "")' is not a URL such as \(Backend.exampleURL)")
        }
        backend = try Backend(
            server: LibraryServerSettings(url: url, token: keys.token ?? "", libraryID: keys.libraryID ?? ""),
            http: HTTPClient(timeout: .milliseconds(Int64(saturating: settings.requestTimeoutSeconds * 1000))))
    }

    /// `validate --probe`: the server takes the credentials and the library is there.
    public func check(context: JobContext) async throws {
        let page = try await backend.books(offset: 0, limit: 1, newestFirst: false)
        context.log(.info, "\(Backend.displayName) answers; its library lists \(page.total) item(s)")
    }

    public func execute(_ job: Job, context: JobContext) async throws -> JobOutcome {
        switch job.type {
        case "scan_library":
            if job.payloadValue["refresh"] == .bool(true) {
                return try await refresh(path: job.payloadValue["path"]?.stringValue, context: context)
            }
            return try await scanAll(context: context)
        case "library_recently_added_check":
            let page = try await backend.books(offset: 0, limit: settings.recentlyAdded, newestFirst: true)
            try context.reportLibrary(backend: Backend.backendName, items: page.books, complete: false)
            return .done(["items": .int(Int64(page.books.count))])
        default:
            return .fail("the \(Backend.displayName) plugin does not handle job type '\(job.type)'")
        }
    }

    /// The most books one scan reads: a server that keeps answering pages
    /// (a total it never reaches) is not read without end.
    public static var maximumBooks: Int { 200_000 }

    private func scanAll(context: JobContext) async throws -> JobOutcome {
        var books: [JobContext.LibraryItem] = []
        var offset = 0
        var skipped = 0
        var previousIDs: [String] = []
        while true {
            let page = try await backend.books(offset: offset, limit: settings.pageSize, newestFirst: false)
            let ids = page.books.map(\.id)
            // A server that ignores the offset answers the same page again: stop.
            if !ids.isEmpty, ids == previousIDs {
                context.log(.warn, "\(Backend.displayName) answered the same page twice (offset \(offset)); the listing ends here")
                break
            }
            previousIDs = ids
            books += page.books
            skipped += max(0, page.listed - page.books.count)
            offset += max(0, page.listed)
            if page.listed <= 0 || offset >= page.total { break }
            guard books.count + skipped < Self.maximumBooks else {
                return .fail(
                    "\(Backend.displayName) lists more than \(Self.maximumBooks) items (it reports \(page.total)); "
                        + "the scan stops there: check the library_id setting")
            }
            try context.checkCancellation()
        }
        try context.reportLibrary(backend: Backend.backendName, items: books, complete: true)
        context.log(
            .info,
            "\(Backend.displayName) lists \(books.count) audiobook(s)" + (skipped > 0 ? "; passed over \(skipped) item(s) without audio" : ""))
        return .done(["items": .int(Int64(books.count)), "without_audio": .int(Int64(skipped))])
    }

    private func refresh(path: String?, context: JobContext) async throws -> JobOutcome {
        try await backend.requestScan(path: path)
        let settle = Duration.milliseconds(Int64(saturating: settings.scanSettleSeconds * 1000))
        do {
            try context.enqueue("library_recently_added_check", payload: JSONValue.object([:]), delay: settle)
        } catch {
            context.log(.warn, "asked \(Backend.displayName) to scan, but could not plan the check that follows: \(error)")
        }
        context.log(.info, "asked \(Backend.displayName) to scan \(path ?? "the library"); reading the newest books in \(settle)")
        return .done(["scan_requested": .string(path ?? "library")])
    }
}

extension Job {
    /// The payload as a JSON value (an empty object when it is not JSON).
    var payloadValue: JSONValue {
        (try? payload(as: JSONValue.self)) ?? .object([:])
    }
}
