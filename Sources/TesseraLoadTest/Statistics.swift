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

/// Which latencies get percentiles (`--percentile-metrics ttft,tpot,itl,e2el`) and which (`--metric-percentiles 50,99`).
public struct MetricSelection: Sendable {
    public static let known = ["ttft", "tpot", "itl", "e2el"]
    public var metrics: [String]
    public var percentiles: [Double]

    public init(metrics: String, percentiles: String) throws(LoadTestError) {
        self.metrics = metrics.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        for m in self.metrics where !Self.known.contains(m) {
            throw LoadTestError("percentile metric \(m) is not one of \(Self.known.joined(separator: ", "))")
        }
        var ps: [Double] = []
        for p in percentiles.split(separator: ",") {
            guard let v = Double(p.trimmingCharacters(in: .whitespaces)), v >= 0, v <= 100 else {
                throw LoadTestError("metric percentile \(p) is not a number in [0, 100]")
            }
            ps.append(v)
        }
        self.percentiles = ps
    }

    /// vLLM's field label: 99 -> "p99", 99.9 -> "p99.9".
    public static func label(_ p: Double) -> String { p == p.rounded() ? "p\(Int(p))" : "p\(p)" }
}

/// `--goodput ttft:500 tpot:50 e2el:2000`: a request counts toward goodput when it meets every given bound (ms).
public struct GoodputSLO: Sendable, Equatable {
    public var bounds: [String: Double]

    public static func parse(_ items: [String]) throws(LoadTestError) -> GoodputSLO {
        var bounds: [String: Double] = [:]
        for item in items {
            let parts = item.split(separator: ":")
            guard parts.count == 2, let v = Double(parts[1]), v >= 0 else {
                throw LoadTestError("goodput \(item): write it as metric:milliseconds, like ttft:500")
            }
            let name = String(parts[0])
            guard ["ttft", "tpot", "e2el"].contains(name) else { throw LoadTestError("goodput metric \(name) is not one of ttft, tpot, e2el") }
            bounds[name] = v
        }
        return GoodputSLO(bounds: bounds)
    }

    /// vLLM's check: TPOT of a one-token answer counts as 0.
    func isMet(ttft: Double, tpot: Double, e2el: Double) -> Bool {
        if let b = bounds["ttft"], ttft * 1000 > b { return false }
        if let b = bounds["tpot"], tpot * 1000 > b { return false }
        if let b = bounds["e2el"], e2el * 1000 > b { return false }
        return true
    }
}

/// Fixed-point text without Foundation's format strings.
func fixed(_ v: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", v) }
