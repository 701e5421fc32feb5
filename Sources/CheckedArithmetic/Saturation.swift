/// Conversions and arithmetic that never trap, for numbers that come from
/// outside the process (Redis, a plugin, an HTTP answer, pipeline.yaml),
/// shared by the host and the plugin kits.
///
/// Swift traps on integer overflow and on converting an out-of-range or NaN
/// floating-point value to an integer; for a number someone else chose, that
/// would let one bad value stop the whole host. Values are first checked
/// against ranges where they enter; these helpers keep what remains (sums of
/// checked values, clock arithmetic, a service's figures) from trapping.
extension Int64 {
    /// `value` rounded toward zero, or the nearest bound when it lies outside
    /// Int64's range; 0 for NaN.
    public init(saturating value: Double) {
        if value.isNaN {
            self = 0
        } else if value >= 9_223_372_036_854_775_807.0 {
            self = .max
        } else if value <= -9_223_372_036_854_775_808.0 {
            self = .min
        } else {
            self = Int64(value)
        }
    }

    /// `self + other`, held at Int64's bounds instead of overflowing.
    public func addingSaturating(_ other: Int64) -> Int64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : sum
    }

    /// `self - other`, held at Int64's bounds instead of overflowing.
    public func subtractingSaturating(_ other: Int64) -> Int64 {
        let (difference, overflow) = subtractingReportingOverflow(other)
        return overflow ? (other < 0 ? .max : .min) : difference
    }

    /// `self * other`, held at Int64's bounds instead of overflowing.
    public func multipliedSaturating(by other: Int64) -> Int64 {
        let (product, overflow) = multipliedReportingOverflow(by: other)
        guard overflow else { return product }
        return (self < 0) == (other < 0) ? .max : .min
    }
}

extension Duration {
    /// Whole milliseconds, held at Int64's bounds for durations beyond them.
    public var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds.multipliedSaturating(by: 1000).addingSaturating(attoseconds / 1_000_000_000_000_000)
    }
}

extension Double {
    /// `self` when it is finite and within `range`, else the nearest bound
    /// (NaN: the lower bound): for a fraction or rate a service reported.
    public func clamped(to range: ClosedRange<Double>) -> Double {
        guard !isNaN else { return range.lowerBound }
        return Swift.min(Swift.max(self, range.lowerBound), range.upperBound)
    }
}
