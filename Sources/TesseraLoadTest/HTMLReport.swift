import Foundation

/// One self-contained HTML page per run (or sweep): the headline numbers in vLLM's terms, warnings, failures,
/// per-tenant and per-adapter tables, and SVG plots. No scripts, styles or fonts from the network.
public enum HTMLReport {
    public static func render(title: String, results: [BenchmarkResult], rates: [Double?] = [], machine: String) -> String {
        var h = """
            <!doctype html><html><head><meta charset="utf-8"><title>\(SVGChart.escape(title))</title><style>
            body{font-family:sans-serif;margin:24px;max-width:1200px;color:#222}
            table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right;font-size:13px}
            th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}.warn{color:#a40;font-weight:bold}
            .charts{display:flex;flex-wrap:wrap;gap:12px}pre{background:#f7f7f7;padding:8px;font-size:12px;white-space:pre-wrap}
            </style></head><body><h1>\(SVGChart.escape(title))</h1><pre>\(SVGChart.escape(machine))</pre>
            """
        if results.count > 1 { h += sweep(results, rates: rates) }
        for (i, r) in results.enumerated() {
            if results.count > 1 { h += "<h2>Request rate \(rates.indices.contains(i) ? rates[i].map { fixed($0, 2) } ?? "inf" : "?")</h2>" }
            h += run(r)
        }
        return h + "</body></html>\n"
    }

    static func run(_ r: BenchmarkResult) -> String {
        var h = ""
        for w in r.warnings { h += "<p class=\"warn\">\(SVGChart.escape(w))</p>" }
        h += "<table><tr><th>metric</th><th>value</th></tr>"
        if case .object(let pairs) = r.json {
            for (k, v) in pairs {
                switch v {
                case .number(let x): h += "<tr><td>\(k)</td><td>\(JSONValue.format((x * 1000).rounded() / 1000))</td></tr>"
                case .string(let s): h += "<tr><td>\(k)</td><td>\(SVGChart.escape(s))</td></tr>"
                case .object(let o) where k == "failures" && !o.isEmpty:
                    h += "<tr><td>failures</td><td>\(o.map { "\($0.0): \($0.1.serialized(indent: nil))" }.joined(separator: ", "))</td></tr>"
                default: continue
                }
            }
        }
        h += "</table><div class=\"charts\">"
        let cdf = ["ttft", "tpot", "itl", "e2el"].map { m in SVGChart.line(title: "\(m.uppercased()) CDF", x: "ms", y: "fraction of requests",
                                                                            series: [.init(name: m, points: r.cdfs[m] ?? [])]) }
        h += cdf.joined()
        h += SVGChart.line(title: "Output tokens per second over the run", x: "seconds", y: "tokens/s",
                           series: [.init(name: "output", points: r.series)])
        let tenants = r.groups["tenant"] ?? []
        if tenants.count > 1 {
            h += SVGChart.bars(title: "Output tokens/s per tenant, per unit of weight", y: "tokens/s / weight",
                               labels: tenants.map(\.name), values: tenants.map { Double($0.outputTokens) / r.duration / ($0.weight ?? 1) })
            h += SVGChart.bars(title: "p99 TTFT per tenant", y: "ms", labels: tenants.map(\.name), values: tenants.map { $0.ttft.percentileMs(99) })
        }
        let adapters = Array((r.groups["adapter"] ?? []).prefix(40))
        if adapters.count > 1 {
            h += SVGChart.bars(title: "Requests per adapter (most used first)", y: "requests", labels: adapters.map(\.name), values: adapters.map { Double($0.requests) })
            h += SVGChart.bars(title: "p50 E2EL per adapter", y: "ms", labels: adapters.map(\.name), values: adapters.map { $0.e2el.percentileMs(50) })
        }
        h += "</div>"
        if let f = r.fairness, let w = r.fairnessWindow {
            h += "<p>Fairness (max/min output tokens/s per unit of weight across tenants, from \(fixed(w.0, 1)) s to \(fixed(w.1, 1)) s while every tenant had requests in flight; 1.0 is weighted-fair): <b>\(fixed(f, 2))</b></p>"
        }
        h += table("Per tenant", tenants, duration: r.duration)
        h += table("Per adapter", Array((r.groups["adapter"] ?? []).prefix(100)), duration: r.duration)
        return h
    }

    static func table(_ title: String, _ rows: [BenchmarkResult.Breakdown], duration: Double) -> String {
        guard !rows.isEmpty else { return "" }
        var h = "<h3>\(title)</h3><table><tr><th>name</th><th>weight</th><th>requests</th><th>failed</th><th>output tok/s</th>"
            + "<th>p50 TTFT ms</th><th>p99 TTFT ms</th><th>p50 TPOT ms</th><th>p99 TPOT ms</th><th>p50 E2EL ms</th><th>p99 E2EL ms</th></tr>"
        for b in rows {
            let cells = [b.weight.map { fixed($0, 2) } ?? "", "\(b.requests)", "\(b.failed)", fixed(Double(b.outputTokens) / max(duration, 1e-9), 1),
                         fixed(b.ttft.percentileMs(50), 1), fixed(b.ttft.percentileMs(99), 1), fixed(b.tpot.percentileMs(50), 1),
                         fixed(b.tpot.percentileMs(99), 1), fixed(b.e2el.percentileMs(50), 1), fixed(b.e2el.percentileMs(99), 1)]
            h += "<tr><td>\(SVGChart.escape(b.name))</td>" + cells.map { "<td>\($0)</td>" }.joined() + "</tr>"
        }
        return h + "</table>"
    }

    /// Throughput against latency across the sweep's rates.
    static func sweep(_ results: [BenchmarkResult], rates: [Double?]) -> String {
        func points(_ key: String) -> [(Double, Double)] { results.map { ($0.outputThroughput, $0.json[key]?.double ?? 0) } }
        var h = "<h2>Sweep</h2><div class=\"charts\">"
        h += SVGChart.line(title: "TTFT against output throughput", x: "output tokens/s", y: "ms",
                           series: [.init(name: "median", points: points("median_ttft_ms")), .init(name: "p99", points: points("p99_ttft_ms"))], markers: true)
        h += SVGChart.line(title: "TPOT against output throughput", x: "output tokens/s", y: "ms",
                           series: [.init(name: "median", points: points("median_tpot_ms")), .init(name: "p99", points: points("p99_tpot_ms"))], markers: true)
        h += SVGChart.line(title: "Achieved against offered rate", x: "offered requests/s", y: "completed requests/s",
                           series: [.init(name: "achieved", points: zip(rates, results).compactMap { r, b in r.map { ($0, b.requestThroughput) } })], markers: true)
        h += "</div><table><tr><th>rate</th><th>req/s</th><th>output tok/s</th><th>median TTFT ms</th><th>p99 TTFT ms</th><th>median TPOT ms</th><th>p99 TPOT ms</th><th>failed</th></tr>"
        for (i, r) in results.enumerated() {
            let rate = rates.indices.contains(i) ? rates[i].map { fixed($0, 2) } ?? "inf" : ""
            let cells = [rate, fixed(r.requestThroughput, 2), fixed(r.outputThroughput, 1)]
                + ["median_ttft_ms", "p99_ttft_ms", "median_tpot_ms", "p99_tpot_ms"].map { fixed(r.json[$0]?.double ?? 0, 1) } + ["\(r.failed)"]
            h += "<tr>" + cells.map { "<td>\($0)</td>" }.joined() + "</tr>"
        }
        return h + "</table>"
    }
}
