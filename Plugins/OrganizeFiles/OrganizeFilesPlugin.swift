import Foundation
import LibraryImport
import PipelinePayloads
import PluginKit

/// Takes finished downloads into the library (`organize_files`): the audio,
/// covers, cue sheets and .nfo files, into a folder from the path template,
/// copied or hard-linked, never touching the seeding copy, never writing
/// outside the library root, never leaving a partial file (LibraryImport).
///
/// No audio files (or the download not there yet): the request rests at
/// `awaiting_import` for `retry_failed_imports`, and at `warn` after
/// `max_import_attempts`. `retry_failed_imports` (scheduled) imports again
/// the finished downloads of requests at `awaiting_import`, those tried
/// longest ago first, at most `retry_batch` (default 50) a run.
///
/// With `scan_after_import`, a successful import asks the library backend
/// to scan (a `scan_library` job with `refresh`), so the book shows up
/// without waiting for the schedule.
struct OrganizeFilesPlugin: PipelinePlugin {
    static let info = PluginInfo(
        id: "org.pipeline.organize.files",
        name: "Organize files",
        version: "0.5.0",
        jobTypes: ["organize_files", "retry_failed_imports"],
        description: "Copies or hard-links finished downloads into the audiobook library, safely.")

    struct Settings: Decodable {
        var libraryRoot: String
        var pathTemplate: String?
        var mode: LibraryWriter.Mode?
        var maxImportAttempts: Int?
        var retryBatch: Int?
        var scanAfterImport: Bool?
        var importRoots: [String]?

        enum CodingKeys: String, CodingKey {
            case mode
            case importRoots = "import_roots"
            case retryBatch = "retry_batch"
            case scanAfterImport = "scan_after_import"
            case libraryRoot = "library_root"
            case pathTemplate = "path_template"
            case maxImportAttempts = "max_import_attempts"
        }
    }

    let libraryRoot: String
    let template: PathTemplate
    let mode: LibraryWriter.Mode
    let maxImportAttempts: Int
    let retryBatch: Int
    let scanAfterImport: Bool
    /// Where downloads may be imported from; nothing outside them is read.
    let importRoots: ImportRoots

    init(configuration: PluginConfiguration, host: PluginHost) throws {
        let settings = try configuration.decode(Settings.self)
        libraryRoot = settings.libraryRoot
        do {
            template = try settings.pathTemplate.map { text throws(PathTemplate.Invalid) in try PathTemplate(text) } ?? .default
        } catch {
            throw PluginError.permanent("bad plugin config: \(error)")
        }
        mode = settings.mode ?? .hardlink
        maxImportAttempts = settings.maxImportAttempts ?? 5
        guard maxImportAttempts >= 1 else { throw PluginError.permanent("bad plugin config: max_import_attempts must be at least 1") }
        retryBatch = settings.retryBatch ?? 50
        guard (1...RequestQuery.maximumLimit).contains(retryBatch) else {
            throw PluginError.permanent("bad plugin config: retry_batch must be from 1 to \(RequestQuery.maximumLimit)")
        }
        scanAfterImport = settings.scanAfterImport ?? false
        let roots = (settings.importRoots ?? []).filter { !$0.isEmpty }
        guard !roots.isEmpty, roots.allSatisfy({ $0.hasPrefix("/") }) else {
            throw PluginError.permanent(
                "bad plugin config: import_roots must list the absolute folders downloads are imported from (the download "
                    + "clients' save paths as this host sees them, such as [/srv/downloads]); nothing outside them is imported")
        }
        importRoots = ImportRoots(roots)
    }

    /// `validate --probe`: the library root is there.
    func check(context: JobContext) async throws {
        do {
            let writer = try LibraryWriter(root: libraryRoot)
            context.log(.info, "library root \(writer.root) is a folder")
        } catch {
            throw PluginError.permanent(error.description)
        }
    }

    func execute(_ job: Job, context: JobContext) async throws -> JobOutcome {
        switch job.type {
        case "organize_files": return try organize(job, context: context)
        case "retry_failed_imports": return try retryFailedImports(context: context)
        default: return .fail("the organizer does not handle job type '\(job.type)'")
        }
    }

    /// `retry_failed_imports`: a new `organize_files` for each request at
    /// `awaiting_import` whose finished download is on record.
    func retryFailedImports(context: JobContext) throws -> JobOutcome {
        let waiting = try context.findRequests(RequestQuery(status: ["awaiting_import"], order: .lastImportAt, limit: retryBatch))
        var retried = 0
        for request in waiting {
            try context.checkCancellation()
            guard let payload = request.importPayload else {
                context.log(.warn, "request \(request.id) has no finished download on record; nothing to import again")
                continue
            }
            // One import per request and attempt, however often the schedule fires.
            try context.enqueue("organize_files", payload: payload, jobID: "retry-import-\(request.id)-\(request.importAttempts)")
            retried += 1
        }
        context.log(.info, "importing again for \(retried) of \(waiting.count) waiting request(s)")
        return .done(["retried": .int(Int64(retried)), "waiting": .int(Int64(waiting.count))])
    }

    func organize(_ job: Job, context: JobContext) throws -> JobOutcome {
        let payload = try job.payload(as: OrganizeFilesPayload.self)
        if let requestID = payload.requestID {
            do {
                try context.requestTransition(requestID: requestID, to: "processing")
            } catch let error as PluginError where error.isHostRefusal {
                context.log(.warn, "nothing imported: \(error.message)")
                return .done(["skipped": .string(error.message)])
            }
        }
        do throws(ImportError) {
            let writer = try LibraryWriter(root: libraryRoot)
            let source = try importRoots.confine(payload.downloadPath)
            let found = try AudiobookFiles(at: source)
            for line in found.skipped { context.log(.warn, "passed over \(line)") }
            let importer = AudiobookImport(values: Self.values(payload.book), template: template, mode: mode)
            let outcome = try importer.run(found, from: payload.downloadPath, into: writer, isCancelled: { context.isCancelled })
            let counts = Dictionary(grouping: outcome.files, by: \.placement).mapValues(\.count)
            context.log(
                .info,
                "imported \(outcome.files.count) file(s) into \(outcome.folder) ("
                    + counts.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.value) \($0.key.rawValue)" }
                    .joined(separator: ", ") + ")")
            if let requestID = payload.requestID {
                try? context.requestTransition(requestID: requestID, to: "downloaded", details: ["reason": "imported"])
            }
            if scanAfterImport {
                do {
                    try context.enqueue("scan_library", payload: JSONValue.object(["refresh": true, "path": .string(outcome.folder)]))
                } catch {
                    context.log(.warn, "imported, but no library scan could be asked for: \(error)")
                }
            }
            return .done([
                "folder": .string(outcome.folder),
                "files": .array(outcome.files.map { .object(["source": .string($0.source), "name": .string($0.name), "how": .string($0.placement.rawValue)]) }),
            ])
        } catch {
            context.log(.error, error.description)
            guard let requestID = payload.requestID else {
                return error.isRetryable ? .retry(error.description) : .fail(error.description)
            }
            if error.isRetryable {
                // Resting at awaiting_import: retry_failed_imports tries again later.
                try? context.requestTransition(
                    requestID: requestID, to: "awaiting_import",
                    details: [
                        "reason": .string(error.description), "import_attempt": true,
                        "max_import_attempts": .int(Int64(maxImportAttempts)),
                    ])
            } else {
                try? context.requestTransition(requestID: requestID, to: "failed", details: ["reason": .string(error.description)])
            }
            return .fail(error.description)
        }
    }

    /// The template's fields from the payload's book.
    static func values(_ book: JSONValue?) -> [String: String] {
        func text(_ key: String) -> String? {
            guard let value = book?[key] else { return nil }
            return value.stringValue ?? value.intValue.map(String.init)
        }
        var values: [String: String] = [:]
        values["title"] = text(BookFields.title)
        values["author"] = text(BookFields.author)
        values["asin"] = text(BookFields.asin)
        values["narrator"] = text(BookFields.narrator)
        values["series"] = text(BookFields.series)
        values["seriesPart"] = text(BookFields.seriesPart)
        values["year"] = text(BookFields.year)
        return values
    }
}
