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
