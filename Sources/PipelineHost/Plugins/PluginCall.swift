import Foundation
import PipelinePayloads
import Synchronization

/// One call into a plugin (an init, an execute or a check) and everything the
/// plugin reported through the host services while it ran.
///
/// The plugin sees it as an opaque `pp_call *`: a number the
/// ``PluginCallRegistry`` maps back to this object while the call runs. A
/// handle used after its call has returned finds nothing, so a plugin that
/// keeps one by mistake cannot reach freed memory.
public final class PluginCall: Sendable {
    /// What the call is for, which decides which services it may use.
    public enum Purpose: Sendable {
        case initialize
        case execute
        case check
    }

    public let purpose: Purpose
    /// The job, for an execute call.
    public let job: PluginJob?
    let effectPolicy: PluginEffectPolicy
    private let cancelled = Atomic<Bool>(false)
    private let state = Mutex(Report())
    /// C strings handed to the plugin that live as long as the call.
    private let lent = Mutex(LentStrings())

    private struct LentStrings: @unchecked Sendable {
        var pointers: [UnsafeMutablePointer<CChar>] = []
    }

    /// What the plugin said during the call.
    public struct Report: Sendable {
        public var result: String?
        public var errorMessage: String?
        public var errorDetails: String?
        public var delayMilliseconds: Int64?
        public var payload: String?
        public var progress: PluginProgress?
        public var events: [PluginLogEvent] = []
        /// Log lines past ``PluginCall/maximumEvents``, counted only.
        public var droppedEvents = 0
        public var effects: [PluginEffect] = []
    }

    /// Finished when the plugin's function has returned.
    private let returnedSignal: AsyncStream<Void>
    private let returnedContinuation: AsyncStream<Void>.Continuation
    private let returnedFlag = Atomic<Bool>(false)

    /// The job's call, for a driver call the host makes while it runs a job
    /// over a driver: its log lines go to the job, and it is cancelled with it.
    let parent: PluginCall?
    /// The instance's side of the host services (its cookies), set by the
    /// instance that runs the call.
    private let servicesContext = Mutex<PluginHostContext?>(nil)

    init(purpose: Purpose, job: PluginJob?, effectPolicy: PluginEffectPolicy, parent: PluginCall? = nil) {
        self.purpose = purpose
        self.job = job
        self.effectPolicy = effectPolicy
        self.parent = parent
        (returnedSignal, returnedContinuation) = AsyncStream.makeStream(of: Void.self)
    }

    /// Records that the plugin's function returned (on the call's thread).
    func markReturned() {
        returnedFlag.store(true, ordering: .releasing)
        returnedContinuation.finish()
    }

    /// Whether the plugin's function has returned.
    public var hasReturned: Bool { returnedFlag.load(ordering: .acquiring) }

    /// Returns once the plugin's function has returned, or when the waiting
    /// task is cancelled. For one waiter only.
    public func waitUntilReturned() async {
        for await _ in returnedSignal {}
    }

    /// What else a cancel does: tell a runner, for a call that runs in one.
    private let cancelHook = Mutex<(@Sendable () -> Void)?>(nil)

    /// Asks the plugin to stop; it sees this through `is_cancelled`.
    public func cancel() {
        cancelled.store(true, ordering: .relaxed)
        cancelHook.withLock { $0 }?()
    }

    /// Runs `hook` when the call is cancelled (at once if it already is).
    func onCancel(_ hook: @escaping @Sendable () -> Void) {
        cancelHook.withLock { $0 = hook }
        if isCancelled { hook() }
    }

    public var isCancelled: Bool {
        cancelled.load(ordering: .relaxed) || (parent?.isCancelled ?? false)
    }

    /// The plugin instance's host context, for services that keep state per
    /// instance (http_request's cookies).
    var hostContext: PluginHostContext? {
        get { servicesContext.withLock { $0 } ?? parent?.hostContext }
        set { servicesContext.withLock { $0 = newValue } }
    }

    /// A copy of what the plugin has reported so far.
    public var report: Report {
        state.withLock { $0 }
    }

    func update(_ body: (inout Report) -> Void) {
        state.withLock { body(&$0) }
    }

    /// The most log lines one call keeps; later ones are counted, not kept.
    static let maximumEvents = 1_000
    /// The longest log line kept, in UTF-8 bytes; longer ones are cut.
    static let maximumMessageBytes = 8 << 10

    /// Keeps `event` for the job's log, within ``maximumEvents`` per call
    /// (the last kept line then says how many were dropped), its message cut
    /// to ``maximumMessageBytes``.
    func appendEvent(_ event: PluginLogEvent) {
        if let parent {
            parent.appendEvent(event)
            return
        }
        var event = event
        event.message = Self.truncated(event.message, to: Self.maximumMessageBytes)
        state.withLock { report in
            if report.events.count < Self.maximumEvents - 1 {
                report.events.append(event)
                return
            }
            report.droppedEvents += 1
            let notice = PluginLogEvent(
                level: .warn, message: "\(report.droppedEvents) more log line(s) of this call dropped: at most \(Self.maximumEvents) are kept",
                metadataJSON: nil, time: event.time)
            if report.events.count < Self.maximumEvents { report.events.append(notice) } else { report.events[report.events.count - 1] = notice }
        }
    }

    /// `text` cut to at most `bytes` of UTF-8, on a character boundary, with "…" when cut.
    static func truncated(_ text: String, to bytes: Int) -> String {
        guard text.utf8.count > bytes else { return text }
        var end = text.utf8.index(text.utf8.startIndex, offsetBy: bytes - 3)
        while end > text.startIndex, !text.unicodeScalars.indices.contains(end) { end = text.utf8.index(before: end) }
        return String(text[..<end]) + "…"
    }

    /// A copy of `text` as a C string that stays valid until the call object
    /// is gone (after the plugin's function has returned).
    func lend(_ text: String) -> UnsafePointer<CChar> {
        let pointer = strdup(text)!
        lent.withLock { $0.pointers.append(pointer) }
        return UnsafePointer(pointer)
    }

    deinit {
        lent.withLock { $0.pointers.forEach { free($0) } }
    }
}

/// A job as the host hands it to a plugin.
public struct PluginJob: Sendable, Hashable {
    public var id: String
    public var type: String
    /// This attempt's number, from 1.
    public var attempt: Int
    public var maxAttempts: Int
    /// The job's data: a JSON object.
    public var payloadJSON: String
    /// When the job was added, in milliseconds since the Unix epoch.
    public var createdAtMilliseconds: Int64

    public init(
        id: String, type: String, attempt: Int = 1, maxAttempts: Int = 1, payloadJSON: String = "{}",
        createdAtMilliseconds: Int64 = Int64(Date().timeIntervalSince1970 * 1000)
    ) {
        self.id = id
        self.type = type
        self.attempt = attempt
        self.maxAttempts = maxAttempts
        self.payloadJSON = payloadJSON
        self.createdAtMilliseconds = createdAtMilliseconds
    }
}

/// The latest progress a plugin reported.
public struct PluginProgress: Sendable, Hashable {
    public var percent: Double
    public var detailsJSON: String?
}

/// One line a plugin logged.
public struct PluginLogEvent: Sendable, Hashable {
    public enum Level: String, Sendable, Hashable {
        case debug, info, warn, error
    }

    public var level: Level
    public var message: String
    public var metadataJSON: String?
    public var time: Date
}

/// Something a plugin asked for that takes effect with the job's outcome.
public enum PluginEffect: Sendable, Hashable {
    /// Move request `requestID` to `status`.
    case requestTransition(requestID: String, status: RequestStatus, detailsJSON: String?)
    /// Add a job of `jobType`.
    case enqueue(jobType: String, payloadJSON: String, options: FollowUpOptions)
    /// Record books a library backend lists (the whole library when `complete`).
    case libraryReport(backend: String, items: [LibraryBook], complete: Bool)
}

/// The options of a follow-up job.
public struct FollowUpOptions: Sendable, Hashable, Decodable {
    public var delayMilliseconds: Int64?
    public var priority: Int?
    public var jobID: String?

    public init(delayMilliseconds: Int64? = nil, priority: Int? = nil, jobID: String? = nil) {
        self.delayMilliseconds = delayMilliseconds
        self.priority = priority
        self.jobID = jobID
    }

    enum CodingKeys: String, CodingKey {
        case delayMilliseconds = "delay_ms"
        case priority
        case jobID = "job_id"
    }

    /// `delay_ms` a whole number of milliseconds; `priority` a number (0 to
    /// 2097151, lower is more urgent) or a level name as pipeline.yaml writes
    /// it (`high`, `medium`, `low`, `none`); `job_id` a string.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        delayMilliseconds = try container.decodeIfPresent(Int64.self, forKey: .delayMilliseconds)
        if let number = try? container.decodeIfPresent(Int.self, forKey: .priority) {
            priority = number
        } else if let name = try container.decodeIfPresent(String.self, forKey: .priority) {
            guard let level = JobPriority.parse(name) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .priority, in: container, debugDescription: "'\(name)' is not high, medium, low, none or a number")
            }
            priority = level.value
        }
        jobID = try container.decodeIfPresent(String.self, forKey: .jobID)
    }

    /// Why no job can be added with these options, or nil.
    public var problem: String? {
        if let delayMilliseconds, !(0...JobLimits.maximumDelayMilliseconds).contains(delayMilliseconds) {
            return "delay_ms \(delayMilliseconds) is outside 0...\(JobLimits.maximumDelayMilliseconds)"
        }
        if let priority, !(0...JobPriority.maximum).contains(priority) {
            return "priority \(priority) is outside 0...\(JobPriority.maximum)"
        }
        if let jobID, let problem = JobLimits.problem(withJobID: jobID) { return "job_id \(problem)" }
        return nil
    }
}

/// Which effects a call may ask for.
public struct PluginEffectPolicy: Sendable {
    /// Which follow-up jobs `enqueue` accepts.
    public enum Enqueue: Sendable {
        /// None: `enqueue` answers PP_ERR_UNSUPPORTED (no queue here).
        case unsupported
        /// Any job type (for `pipeline-host plugin run`, which only shows them).
        case anyJobType
        /// These job types; others get PP_ERR_REFUSED.
        case jobTypes(Set<String>)
    }

    public var enqueue: Enqueue
    /// Whether `request_transition` is offered.
    public var offersRequestTransitions: Bool
    /// Checks a transition at once, on the plugin's thread (it may block):
    /// moving request `requestID` through `path` (the moves this call asked
    /// for before, then the new one) from the status it has now. Nil means
    /// legal; a reason means refused. Without it only the status name is checked.
    public var checkTransition: (@Sendable (_ requestID: String, _ path: [RequestStatus]) -> String?)?
    /// Serves `find_requests` on the plugin's thread (it may block): the
    /// selection as a JSON array, or why it cannot be had. Nil: not offered.
    public var findRequests: (@Sendable (RequestQuery) -> Result<[RequestSnapshot], RequestLedgerError>)?
    /// What `download_protocols` answers: PP_PROTOCOL_* bits.
    public var downloadProtocols: UInt32 = 0

    public init(
        enqueue: Enqueue, offersRequestTransitions: Bool,
        checkTransition: (@Sendable (String, [RequestStatus]) -> String?)? = nil,
        findRequests: (@Sendable (RequestQuery) -> Result<[RequestSnapshot], RequestLedgerError>)? = nil
    ) {
        self.enqueue = enqueue
        self.offersRequestTransitions = offersRequestTransitions
        self.checkTransition = checkTransition
        self.findRequests = findRequests
    }

    /// No effects at all: for init and check calls.
    public static let none = PluginEffectPolicy(enqueue: .unsupported, offersRequestTransitions: false)
}

/// Maps the `pp_call *` handles plugins hold to live ``PluginCall``s.
enum PluginCallRegistry {
    private static let calls = Mutex<(next: UInt, live: [UInt: PluginCall])>((1, [:]))

    /// Registers `call` and returns its handle.
    static func register(_ call: PluginCall) -> OpaquePointer {
        let handle = calls.withLock { state in
            let handle = state.next
            state.next += 1
            state.live[handle] = call
            return handle
        }
        return OpaquePointer(bitPattern: handle)!
    }

    static func unregister(_ handle: OpaquePointer) {
        let key = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(handle)))
        _ = calls.withLock { $0.live.removeValue(forKey: key) }
    }

    /// The live call behind `handle`, or `nil` for a stale or bogus handle.
    static func call(for handle: OpaquePointer?) -> PluginCall? {
        guard let handle else { return nil }
        let key = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(handle)))
        return calls.withLock { $0.live[key] }
    }
}
