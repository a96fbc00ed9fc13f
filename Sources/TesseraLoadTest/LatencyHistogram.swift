import Histogram

/// Latencies of one group (a tenant, an adapter, a whole run) in an HdrHistogram at microsecond resolution with three
/// significant digits: bounded memory however long the run, and the CDFs the report plots.
public struct LatencyHistogram: Sendable {
    private(set) var histogram = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000,
                                                   numberOfSignificantValueDigits: .three)

    public init() {}

    public mutating func record(seconds: Double) {
        _ = histogram.record(UInt64(max(1, min(seconds * 1e6, 3_600_000_000))))
    }

    public var count: Int { Int(histogram.totalCount) }
    public var meanMs: Double { count == 0 ? 0 : histogram.mean / 1000 }
    public func percentileMs(_ p: Double) -> Double { count == 0 ? 0 : Double(histogram.valueAtPercentile(p)) / 1000 }

    /// (latency ms, fraction at or below) points for a CDF plot.
    public func cdf() -> [(Double, Double)] {
        guard count > 0 else { return [] }
        return histogram.percentiles(ticksPerHalfDistance: 5).map { (Double($0.value) / 1000, $0.percentile / 100) }
    }
}
