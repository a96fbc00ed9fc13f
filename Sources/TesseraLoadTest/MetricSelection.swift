import Foundation

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
