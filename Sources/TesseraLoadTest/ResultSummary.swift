import Foundation

/// The terminal summary, laid out like `vllm bench serve`'s so the numbers are found where people look for them.
public enum ResultSummary {
    public static func text(_ r: BenchmarkResult) -> String {
        var lines = [line("=", " Serving Benchmark Result ")]
        func row(_ label: String, _ key: String, digits: Int = 2) {
            guard let v = r.json[key] else { return }
            switch v {
            case .number(let x): lines.append(pad(label, x == x.rounded() && digits == 0 ? String(Int(x)) : fixed(x, digits)))
            case .null: break
            default: lines.append(pad(label, v.serialized(indent: nil)))
            }
        }
        row("Successful requests:", "completed", digits: 0)
        row("Failed requests:", "failed", digits: 0)
        row("Maximum request concurrency:", "max_concurrency", digits: 0)
        row("Benchmark duration (s):", "duration")
        row("Total input tokens:", "total_input_tokens", digits: 0)
        row("Total generated tokens:", "total_output_tokens", digits: 0)
        row("Request throughput (req/s):", "request_throughput")
        row("Request goodput (req/s):", "request_goodput")
        row("Output token throughput (tok/s):", "output_throughput")
        row("Peak output token throughput (tok/s):", "max_output_tokens_per_s")
        row("Peak concurrent requests:", "max_concurrent_requests", digits: 0)
        row("Total Token throughput (tok/s):", "total_token_throughput")
        let titles = ["ttft": "Time to First Token", "tpot": "Time per Output Token (excl. 1st token)",
                      "itl": "Inter-token Latency", "e2el": "End-to-end Latency"]
        if case .object(let pairs) = r.json {
            for m in ["ttft", "tpot", "itl", "e2el"] where r.json["mean_\(m)_ms"] != nil {
                lines.append(line("-", titles[m]!))
                for (k, v) in pairs where k.hasSuffix("_\(m)_ms") && !k.hasPrefix("std_") {
                    let stat = k.dropLast("_\(m)_ms".count)
                    let label = stat == "mean" ? "Mean" : stat == "median" ? "Median" : "P" + stat.dropFirst()
                    lines.append(pad("\(label) \(m.uppercased()) (ms):", fixed(v.double ?? 0, 2)))
                }
            }
            if let f = r.fairness { lines.append(line("-", "Tenants")); lines.append(pad("Fairness (max/min per weight):", fixed(f, 2))) }
            if case .object(let fs)? = r.json["failures"], !fs.isEmpty {
                lines.append(line("-", "Failures"))
                for (k, v) in fs { lines.append(pad("\(k):", v.serialized(indent: nil))) }
            }
        }
        lines.append(String(repeating: "=", count: 50))
        for w in r.warnings { lines.append("warning: \(w)") }
        return lines.joined(separator: "\n")
    }

    private static func pad(_ label: String, _ value: String) -> String {
        label.padding(toLength: max(40, label.count + 1), withPad: " ", startingAt: 0) + value
    }

    private static func line(_ c: String, _ title: String) -> String {
        let side = max(0, (50 - title.count) / 2)
        let s = String(repeating: c, count: side) + title + String(repeating: c, count: side)
        return s.padding(toLength: 50, withPad: c, startingAt: 0)
    }
}
