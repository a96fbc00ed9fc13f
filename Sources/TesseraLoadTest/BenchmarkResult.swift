import Foundation

/// The statistics of a run, with `vllm bench serve`'s definitions and field names (vllm/benchmarks/serve.py,
/// `calculate_metrics`): TTFT, TPOT = (E2EL - TTFT)/(output tokens - 1) over answers longer than one token, ITL over
/// every gap between chunks, E2EL; throughputs over the run's duration; goodput over requests meeting every SLO.
/// Tessera's additions (failures by kind, per-tenant and per-adapter breakdowns, fairness, the client's own load)
/// come after vLLM's fields under names vLLM does not use.
public struct BenchmarkResult: Sendable {
    public var json: JSONValue
    public var ttfts: [Double] = [], tpots: [Double] = [], itls: [Double] = [], e2els: [Double] = []
    public var completed = 0, failed = 0
    public var duration: Double
    public var outputThroughput = 0.0
    public var requestThroughput = 0.0
    public var groups: [String: [Breakdown]] = [:]
    /// (second, output tokens that second): chunks counted as tokens, as vLLM does for its max_output_tokens_per_s.
    public var series: [(Double, Double)] = []
    /// Max/min over tenants of output tokens per second per unit of weight, counted while every tenant had requests
    /// in flight (`fairnessWindow`, seconds from the start): 1.0 is exactly weighted-fair. Only meaningful when the
    /// tenants are backlogged; otherwise it shows their demand over their weights.
    public var fairness: Double?
    public var fairnessWindow: (Double, Double)?
    public var cdfs: [String: [(Double, Double)]] = [:]
    public var warnings: [String] = []

    public struct Breakdown: Sendable {
        public var name: String
        public var weight: Double?
        public var requests = 0, completed = 0, failed = 0, inputTokens = 0, outputTokens = 0
        public var ttft = LatencyHistogram(), tpot = LatencyHistogram(), e2el = LatencyHistogram()

        func json(duration: Double) -> JSONValue {
            var o: [(String, JSONValue)] = [("name", .string(name))]
            if let weight { o.append(("weight", .number(weight))) }
            o += [("requests", .number(Double(requests))), ("completed", .number(Double(completed))),
                  ("failed", .number(Double(failed))), ("total_input_tokens", .number(Double(inputTokens))),
                  ("total_output_tokens", .number(Double(outputTokens))),
                  ("output_throughput", .number(duration > 0 ? Double(outputTokens) / duration : 0))]
            for (label, h) in [("ttft", ttft), ("tpot", tpot), ("e2el", e2el)] {
                o += [("mean_\(label)_ms", .number(h.meanMs)), ("p50_\(label)_ms", .number(h.percentileMs(50))),
                      ("p99_\(label)_ms", .number(h.percentileMs(99)))]
            }
            return .object(o)
        }
    }

    public init(_ run: RunRecord, baseURL: String, model: String, detailed: Bool) throws(LoadTestError) {
        let s = run.scenario
        let selection = try MetricSelection(metrics: s.percentile_metrics, percentiles: s.metric_percentiles)
        let slo = try GoodputSLO.parse(s.goodput ?? [])
        duration = run.duration
        var inputTokens = 0, outputTokens = 0, good = 0
        var failures: [String: Int] = [:]
        var tenants = run.tenantNames.enumerated().map { Breakdown(name: $1, weight: run.tenantWeights[$0]) }
        var adapters: [String: Breakdown] = [:]
        var all = (ttft: LatencyHistogram(), tpot: LatencyHistogram(), itl: LatencyHistogram(), e2el: LatencyHistogram())
        var bins: [Int: Int] = [:]
        var events: [(Double, Int)] = []
        for o in run.outcomes {
            let adapterName = o.adapter ?? model
            adapters[adapterName, default: Breakdown(name: adapterName)].requests += 1
            tenants[o.tenant].requests += 1
            events += [(o.sent, 1), (o.sent + (o.success ? o.latency : 0), -1)]
            guard o.success else {
                failed += 1
                failures[o.failure ?? "unknown", default: 0] += 1
                tenants[o.tenant].failed += 1
                adapters[adapterName]!.failed += 1
                continue
            }
            completed += 1
            inputTokens += o.promptTokens
            outputTokens += o.outputTokens
            let tpot = o.outputTokens > 1 ? (o.latency - o.ttft) / Double(o.outputTokens - 1) : 0
            if o.outputTokens > 1 { tpots.append(tpot) }
            ttfts.append(o.ttft); e2els.append(o.latency); itls += o.itl
            if slo.isMet(ttft: o.ttft, tpot: tpot, e2el: o.latency) { good += 1 }
            all.ttft.record(seconds: o.ttft); all.e2el.record(seconds: o.latency)
            if o.outputTokens > 1 { all.tpot.record(seconds: tpot) }
            for gap in o.itl { all.itl.record(seconds: gap) }
            for t in o.chunkTimes { bins[Int(t), default: 0] += 1 }
            func add(_ b: inout Breakdown) {
                b.completed += 1; b.inputTokens += o.promptTokens; b.outputTokens += o.outputTokens
                b.ttft.record(seconds: o.ttft); b.e2el.record(seconds: o.latency)
                if o.outputTokens > 1 { b.tpot.record(seconds: tpot) }
            }
            add(&tenants[o.tenant])
            add(&adapters[adapterName]!)
        }
        let dur = max(duration, 1e-9)
        requestThroughput = Double(completed) / dur
        outputThroughput = Double(outputTokens) / dur
        let seconds = Int(duration.rounded(.up))
        series = (0..<max(seconds, 1)).map { (Double($0), Double(bins[$0] ?? 0)) }
        var concurrent = 0, maxConcurrent = 0
        for e in events.sorted(by: { $0.0 < $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }) {
            concurrent += e.1
            maxConcurrent = max(maxConcurrent, concurrent)
        }
        let active = tenants.filter { $0.requests > 0 }
        (fairness, fairnessWindow) = Self.fairness(run, tenants: tenants.indices.filter { tenants[$0].requests > 0 }, weights: run.tenantWeights)
        groups = ["tenant": active, "adapter": adapters.values.sorted { $0.requests > $1.requests || ($0.requests == $1.requests && $0.name < $1.name) }]
        cdfs = ["ttft": all.ttft.cdf(), "tpot": all.tpot.cdf(), "itl": all.itl.cdf(), "e2el": all.e2el.cdf()]

        // vLLM's fields, in vLLM's order.
        var o: [(String, JSONValue)] = [
            ("date", .string(Self.dateFormatter.string(from: run.startedAt))),
            ("backend", .string(s.endpoint == "/v1/chat/completions" ? "openai-chat" : "openai")),
            ("base_url", .string(baseURL)),
            ("model_id", .string(model)),
            ("num_prompts", s.num_prompts.map { .number(Double($0)) } ?? .null),
            ("request_rate", s.request_rate.map { .number($0) } ?? .string("inf")),
            ("burstiness", .number(s.burstiness)),
            ("max_concurrency", s.max_concurrency.map { .number(Double($0)) } ?? .null),
            ("duration", .number(duration)),
            ("completed", .number(Double(completed))),
            ("failed", .number(Double(failed))),
            ("total_input_tokens", .number(Double(inputTokens))),
            ("total_output_tokens", .number(Double(outputTokens))),
            ("request_throughput", .number(requestThroughput)),
            ("request_goodput", slo.bounds.isEmpty ? .null : .number(Double(good) / dur)),
            ("output_throughput", .number(outputThroughput)),
            ("total_token_throughput", .number(Double(inputTokens + outputTokens) / dur)),
            ("max_output_tokens_per_s", .number(Double(bins.values.max() ?? 0))),
            ("max_concurrent_requests", .number(Double(maxConcurrent))),
        ]
        let lists = ["ttft": ttfts, "tpot": tpots, "itl": itls, "e2el": e2els]
        for m in selection.metrics {
            let v = lists[m]!
            let sorted = v.sorted()
            o += [("mean_\(m)_ms", .number(Statistics.mean(v) * 1000)),
                  ("median_\(m)_ms", .number(Statistics.percentile(sorted: sorted, 50) * 1000)),
                  ("std_\(m)_ms", .number(Statistics.std(v) * 1000))]
            for p in selection.percentiles {
                o.append(("\(MetricSelection.label(p))_\(m)_ms", .number(Statistics.percentile(sorted: sorted, p) * 1000)))
            }
        }
        if detailed {
            let done = run.outcomes
            o += [("input_lens", .array(done.map { .number(Double($0.promptTokens)) })),
                  ("output_lens", .array(done.map { .number(Double($0.success ? $0.outputTokens : 0)) })),
                  ("ttfts", .array(done.map { .number($0.ttft) })),
                  ("itls", .array(done.map { .array($0.itl.map { .number($0) }) })),
                  ("generated_texts", .array(done.map { .string($0.generatedText) })),
                  ("errors", .array(done.map { .string($0.error ?? "") })),
                  ("tenants", .array(done.map { .string(run.tenantNames[$0.tenant]) })),
                  ("adapters", .array(done.map { .string($0.adapter ?? model) })),
                  ("sent", .array(done.map { .number($0.sent) })),
                  ("statuses", .array(done.map { .number(Double($0.status)) }))]
        }
        // Tessera's additions.
        let cpuShare = run.clientCPUSeconds / dur
        let lag = run.sendLag.sorted()
        let lagP99 = Statistics.percentile(sorted: lag, 99) * 1000
        if cpuShare > 0.7 {
            warnings.append("the load tester used \(fixed(cpuShare * 100, 0))% of a core: it may be limiting the run; results are a lower bound")
        }
        if lagP99 > 20 {
            warnings.append("p99 send lag \(fixed(lagP99, 1)) ms: requests left later than planned (the client or its machine is busy)")
        }
        o += [("scenario", .string(s.name)),
              ("endpoint", .string(s.endpoint)),
              ("http2", .bool(s.http2)),
              ("retried_requests", .number(Double(run.retriedRequests))),
              ("failures", .object(failures.sorted { $0.key < $1.key }.map { ($0.key, .number(Double($0.value))) })),
              ("fairness", fairness.map { .number($0) } ?? .null),
              ("fairness_window_s", fairnessWindow.map { .array([.number($0.0), .number($0.1)]) } ?? .null),
              ("per_tenant", .array(active.map { $0.json(duration: dur) })),
              ("per_adapter", .array(groups["adapter"]!.map { $0.json(duration: dur) })),
              ("client_cpu_seconds", .number(run.clientCPUSeconds)),
              ("client_cpu_utilization", .number(cpuShare)),
              ("send_lag_p99_ms", .number(lagP99)),
              ("output_tokens_from_usage", .bool(run.outcomes.allSatisfy { !$0.success || $0.usageReported })),
              ("warnings", .array(warnings.map { .string($0) }))]
        json = .object(o)
    }

    /// The window runs from the last tenant's first request to the first tenant's last answer; chunks with choices
    /// inside it count as tokens (as for max_output_tokens_per_s).
    static func fairness(_ run: RunRecord, tenants: [Int], weights: [Double]) -> (Double?, (Double, Double)?) {
        guard tenants.count > 1 else { return (nil, nil) }
        var first = [Int: Double](), last = [Int: Double]()
        for o in run.outcomes where o.success {
            first[o.tenant] = min(first[o.tenant] ?? .infinity, o.sent)
            last[o.tenant] = max(last[o.tenant] ?? 0, o.sent + o.latency)
        }
        guard tenants.allSatisfy({ first[$0] != nil }) else { return (nil, nil) }
        let lo = tenants.map { first[$0]! }.max()!, hi = tenants.map { last[$0]! }.min()!
        guard hi > lo else { return (nil, nil) }
        var served = [Int: Int]()
        for o in run.outcomes where o.success {
            served[o.tenant, default: 0] += o.chunkTimes.filter { $0 >= lo - 1e-9 && $0 <= hi + 1e-9 }.count
        }
        let rates = tenants.map { Double(served[$0] ?? 0) / (hi - lo) / weights[$0] }
        guard let a = rates.min(), let b = rates.max(), a > 0 else { return (nil, (lo, hi)) }
        return (b / a, (lo, hi))
    }

    static let dateFormatter: DateFormatter = {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd-HHmmss"
        return f
    }()
}
