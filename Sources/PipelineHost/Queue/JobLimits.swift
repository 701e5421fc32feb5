/// The ranges the host accepts for what a job carries, wherever it comes
/// from: pipeline.yaml, the CLI, the admin API, a plugin's `enqueue`, or a
/// job another BullMQ producer added. A value outside them is refused where
/// it enters (an add) or fails its one job (a job taken from Redis), so that
/// no arithmetic on it can trap.
public enum JobLimits {
    /// The most attempts a job may ask for.
    public static let maximumAttempts: Int64 = 1_000_000

    /// The longest delay, in ms: ten years. Delayed jobs are scored
    /// `due × 4096 + sequence` (BullMQ's layout); ten years from now keeps
    /// that score below 2^53, where a double (Lua's only number) is still exact.
    public static let maximumDelayMilliseconds: Int64 = 10 * 366 * 86_400_000

    /// The longest delay as a duration.
    public static var maximumDelay: Duration { .milliseconds(maximumDelayMilliseconds) }

    /// The most finished jobs a retention rule may keep.
    public static let maximumRetentionCount: Int64 = Int64(Int32.max)

    /// The oldest a retention rule may keep a finished job, in seconds (BullMQ's `age` unit): ten years.
    public static let maximumRetentionAgeSeconds: Int64 = 10 * 366 * 86_400

    /// The most jobs of one type a host runs at once: each is a thread.
    public static let maximumConcurrency = 512
    /// The most jobs of all types a host runs at once.
    public static let maximumTotalConcurrency = 2_048

    /// The longest custom job id, in UTF-8 bytes.
    public static let maximumJobIDBytes = 256

    /// The names of a queue's own keys (`<prefix>:<queue>:<name>`). A job's
    /// hash is `<prefix>:<queue>:<id>`, so a job with one of these ids would
    /// overwrite the queue's structure: every later script on the queue would
    /// fail with WRONGTYPE. BullMQ v6's keys, and those its features add.
    public static let reservedJobIDs: Set<String> = [
        "wait", "paused", "active", "prioritized", "pc", "delayed", "completed", "failed", "waiting-children",
        "marker", "meta", "events", "stalled", "stalled-check", "limiter", "id", "repeat", "de", "dn", "metrics",
    ]

    /// Why `id` cannot be a custom job id, or nil when it can.
    public static func problem(withJobID id: String) -> String? {
        if id.isEmpty { return "is empty" }
        if id.utf8.count > maximumJobIDBytes { return "is longer than \(maximumJobIDBytes) bytes" }
        if id.allSatisfy(\.isASCII), id.allSatisfy(\.isNumber) {
            return "'\(id)' is all digits, which BullMQ keeps for the ids it numbers itself"
        }
        if id.contains(":") { return "'\(id.prefix(64))' contains ':', which separates the parts of Redis keys" }
        if id.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            return "contains control characters"
        }
        if reservedJobIDs.contains(id) {
            return "'\(id)' is the name of one of the queue's own keys; choose another id"
        }
        return nil
    }
}
