import Foundation

/// The statistics `vllm bench serve` reports, computed the way numpy computes them there: mean, median, population
/// standard deviation and percentiles by linear interpolation between the closest ranks. An empty list gives 0.
public enum Statistics {
    public static func mean(_ v: [Double]) -> Double { v.isEmpty ? 0 : v.reduce(0, +) / Double(v.count) }

    public static func std(_ v: [Double]) -> Double {
        guard !v.isEmpty else { return 0 }
        let m = mean(v)
        return sqrt(v.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(v.count))
    }

    /// `numpy.percentile(v, p)` (method "linear") of values already sorted.
    public static func percentile(sorted v: [Double], _ p: Double) -> Double {
        guard !v.isEmpty else { return 0 }
        let rank = p / 100 * Double(v.count - 1)
        let lo = Int(rank.rounded(.down)), hi = min(lo + 1, v.count - 1)
        return v[lo] + (v[hi] - v[lo]) * (rank - Double(lo))
    }
}

/// A number with a fixed count of decimals, for the summary, the progress line and the report.
func fixed(_ v: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", v) }
