import Foundation

/// A five-field cron schedule (minute, hour, day of month, month, day of
/// week), evaluated in UTC.
///
/// Fields take `*`, numbers, ranges `a-b`, steps `*/n` and `a-b/n`, and lists
/// `a,b`; months and days may be named (`jan`, `mon`); day of week 0 and 7 are
/// both Sunday. As in Vixie cron, when both day fields are restricted a day
/// matches if either does. `@hourly`, `@daily` (`@midnight`), `@weekly`,
/// `@monthly` and `@yearly` (`@annually`) stand for their usual expressions.
public struct CronExpression: Sendable, Hashable, CustomStringConvertible {
    /// The text the expression was parsed from.
    public let source: String
    let minutes: UInt64
    let hours: UInt64
    let daysOfMonth: UInt64
    let months: UInt64
    let daysOfWeek: UInt64
    let dayOfMonthRestricted: Bool
    let dayOfWeekRestricted: Bool

    public var description: String { source }

    static let macros: [String: String] = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
        "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]

    struct Field {
        var name: String
        var range: ClosedRange<Int>
        var names: [String] = []
        var nameBase = 0
    }

    static let fields = [
        Field(name: "minute", range: 0...59),
        Field(name: "hour", range: 0...23),
        Field(name: "day of month", range: 1...31),
        Field(
            name: "month", range: 1...12,
            names: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], nameBase: 1),
        Field(name: "day of week", range: 0...7, names: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]),
    ]

    /// Parses `text`.
    ///
    /// - Throws: ``CronSyntaxError`` naming the field at fault, or saying the
    ///   schedule can never fire (`0 0 30 2 *`).
    public init(parsing text: String) throws(CronSyntaxError) {
        source = text
        let expanded = Self.macros[text.trimmingCharacters(in: .whitespaces).lowercased()] ?? text
        let parts = expanded.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard parts.count == 5 else {
            throw CronSyntaxError(
                text: text,
                reason: "expected 5 fields (minute hour day-of-month month day-of-week), found \(parts.count)")
        }
        var sets: [UInt64] = []
        for (part, field) in zip(parts, Self.fields) {
            sets.append(try Self.parseField(String(part), field, in: text))
        }
        minutes = sets[0]
        hours = sets[1]
        daysOfMonth = sets[2]
        months = sets[3]
        // Sunday is both 0 and 7.
        daysOfWeek = (sets[4] & 0x7F) | (sets[4] >> 7 & 1)
        dayOfMonthRestricted = parts[2] != "*" && !parts[2].hasPrefix("*/")
        dayOfWeekRestricted = parts[4] != "*" && !parts[4].hasPrefix("*/")
        if dayOfMonthRestricted, !dayOfWeekRestricted, !Self.anyDayExists(daysOfMonth, in: months) {
            throw CronSyntaxError(text: text, reason: "it can never fire: no month in it has those days")
        }
    }

    private static func parseField(_ text: String, _ field: Field, in source: String) throws(CronSyntaxError) -> UInt64 {
        var bits: UInt64 = 0
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let pieces = item.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2, !item.isEmpty else {
                throw CronSyntaxError(text: source, reason: "\(field.name) field: '\(item)' is not a value, range or step")
            }
            var step = 1
            if pieces.count == 2 {
                guard let value = Int(pieces[1]), value > 0 else {
                    throw CronSyntaxError(
                        text: source, reason: "\(field.name) field: step '\(pieces[1])' is not a positive number")
                }
                step = value
            }
            let span: ClosedRange<Int>
            if pieces[0] == "*" {
                span = field.range.lowerBound...(field.name == "day of week" ? 6 : field.range.upperBound)
            } else {
                let bounds = pieces[0].split(separator: "-", omittingEmptySubsequences: false)
                guard bounds.count <= 2 else {
                    throw CronSyntaxError(text: source, reason: "\(field.name) field: '\(pieces[0])' is not a range")
                }
                let low = try value(String(bounds[0]), field, in: source)
                let high =
                    bounds.count == 2
                    ? try value(String(bounds[1]), field, in: source)
                    : (pieces.count == 2 ? field.range.upperBound : low)
                guard low <= high else {
                    throw CronSyntaxError(text: source, reason: "\(field.name) field: range '\(pieces[0])' runs backwards")
                }
                span = low...high
            }
            for value in stride(from: span.lowerBound, through: span.upperBound, by: step) {
                bits |= 1 << UInt64(value)
            }
        }
        return bits
    }

    private static func value(_ text: String, _ field: Field, in source: String) throws(CronSyntaxError) -> Int {
        if let index = field.names.firstIndex(of: text.lowercased()) {
            return index + field.nameBase
        }
        guard let number = Int(text) else {
            let named = field.names.isEmpty ? "" : " or a name (\(field.names.joined(separator: ", ")))"
            throw CronSyntaxError(text: source, reason: "\(field.name) field: '\(text)' is not a number\(named)")
        }
        guard field.range.contains(number) else {
            throw CronSyntaxError(
                text: source,
                reason: "\(field.name) field: \(number) is out of range \(field.range.lowerBound)-\(field.range.upperBound)")
        }
        return number
    }

    private static func anyDayExists(_ days: UInt64, in months: UInt64) -> Bool {
        let lengths = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        return (1...12).contains { month in
            months & (1 << UInt64(month)) != 0 && (1...lengths[month - 1]).contains { days & (1 << UInt64($0)) != 0 }
        }
    }

    private static let calendar: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()

    /// The first time strictly after `date` at which the schedule fires, or
    /// `nil` if it does not fire within the next eight years.
    public func nextFireDate(after date: Date) -> Date? {
        let calendar = Self.calendar
        let limit = date.addingTimeInterval(8 * 366 * 86_400)
        var candidate = Date(timeIntervalSince1970: (date.timeIntervalSince1970 / 60).rounded(.down) * 60 + 60)
        while candidate <= limit {
            let parts = calendar.dateComponents([.month, .day, .hour, .minute, .weekday], from: candidate)
            let (month, day, hour, minute) = (parts.month!, parts.day!, parts.hour!, parts.minute!)
            if months & (1 << UInt64(month)) == 0 {
                let start = calendar.dateInterval(of: .month, for: candidate)!.start
                candidate = calendar.date(byAdding: .month, value: 1, to: start)!
            } else if !matchesDay(day: day, weekday: parts.weekday! - 1) {
                candidate = calendar.date(byAdding: .day, value: 1, to: calendar.startOfDay(for: candidate))!
            } else if hours & (1 << UInt64(hour)) == 0 {
                candidate = calendar.dateInterval(of: .hour, for: candidate)!.end
            } else if minutes & (1 << UInt64(minute)) == 0 {
                candidate = candidate.addingTimeInterval(60)
            } else {
                return candidate
            }
        }
        return nil
    }

    private func matchesDay(day: Int, weekday: Int) -> Bool {
        let dayOfMonth = daysOfMonth & (1 << UInt64(day)) != 0
        let dayOfWeek = daysOfWeek & (1 << UInt64(weekday)) != 0
        if dayOfMonthRestricted && dayOfWeekRestricted { return dayOfMonth || dayOfWeek }
        return dayOfMonth && dayOfWeek
    }
}

/// Why a cron expression could not be read.
public struct CronSyntaxError: Error, Sendable, CustomStringConvertible {
    public var text: String
    public var reason: String

    public var description: String { "bad cron expression '\(text)': \(reason)" }
}
