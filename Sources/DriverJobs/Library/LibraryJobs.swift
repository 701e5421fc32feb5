import DownloadClientKit
import CheckedArithmetic
import Foundation
import LibraryBackendKit
import PluginHTTP
import PluginKit

/// The library jobs, written once over any library-backend driver:
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
public struct LibraryJobs: Sendable {
    public static let jobTypes = ["scan_library", "library_recently_added_check"]

    public private(set) var backend: any LibraryBackendDriver
    public let settings: LibraryBackendSettings

    /// - Parameter configurationJSON: the instance's `config`, which holds the
    ///   jobs' settings (`recently_added`, `page_size`, …) beside the server's.
    public init(backend: any LibraryBackendDriver, configurationJSON: String) throws {
        self.backend = backend
        settings = try PluginConfiguration(json: configurationJSON).decode(LibraryBackendSettings.self)
    }

    /// The same jobs over another handle to the backend (one bound to a job's call).
    public func using(_ backend: any LibraryBackendDriver) -> LibraryJobs {
        var copy = self
        copy.backend = backend
        return copy
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
            try context.reportLibrary(backend: backend.kind, items: page.books, complete: false)
            return .done(["items": .int(Int64(page.books.count))])
        default:
            return .fail("the library jobs do not include '\(job.type)'")
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
                context.log(.warn, "\(backend.displayName) answered the same page twice (offset \(offset)); the listing ends here")
                break
            }
            previousIDs = ids
            books += page.books
            skipped += max(0, page.listed - page.books.count)
            offset += max(0, page.listed)
            if page.listed <= 0 || offset >= page.total { break }
            guard books.count + skipped < Self.maximumBooks else {
                return .fail(
                    "\(backend.displayName) lists more than \(Self.maximumBooks) items (it reports \(page.total)); "
                        + "the scan stops there: check the library_id setting")
            }
            try context.checkCancellation()
        }
        try context.reportLibrary(backend: backend.kind, items: books, complete: true)
        context.log(
            .info,
            "\(backend.displayName) lists \(books.count) audiobook(s)" + (skipped > 0 ? "; passed over \(skipped) item(s) without audio" : ""))
        return .done(["items": .int(Int64(books.count)), "without_audio": .int(Int64(skipped))])
    }

    private func refresh(path: String?, context: JobContext) async throws -> JobOutcome {
        try await backend.requestScan(path: path)
        let settle = Duration.milliseconds(Int64(saturating: settings.scanSettleSeconds * 1000))
        do {
            try context.enqueue("library_recently_added_check", payload: JSONValue.object([:]), delay: settle)
        } catch {
            context.log(.warn, "asked \(backend.displayName) to scan, but could not plan the check that follows: \(error)")
        }
        context.log(.info, "asked \(backend.displayName) to scan \(path ?? "the library"); reading the newest books in \(settle)")
        return .done(["scan_requested": .string(path ?? "library")])
    }
}

extension Job {
    /// The payload as a JSON value (an empty object when it is not JSON).
    var payloadValue: JSONValue {
        (try? payload(as: JSONValue.self)) ?? .object([:])
    }
}
