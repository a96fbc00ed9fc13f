import Foundation
import Testing
import TesseraLoadTest

@Suite struct MetricsTests {
    @Test func percentilesInterpolateAsNumpyDoes() {
        // numpy.percentile([1, 2, 3, 4], [0, 50, 90, 99, 100]) = 1, 2.5, 3.7, 3.97, 4
        let v = [1.0, 2, 3, 4]
        #expect(Statistics.percentile(sorted: v, 0) == 1)
        #expect(Statistics.percentile(sorted: v, 50) == 2.5)
        #expect(abs(Statistics.percentile(sorted: v, 90) - 3.7) < 1e-12)
        #expect(abs(Statistics.percentile(sorted: v, 99) - 3.97) < 1e-12)
        #expect(Statistics.percentile(sorted: v, 100) == 4)
        #expect(Statistics.percentile(sorted: [], 99) == 0)
        // numpy.std (population): [2, 4, 4, 4, 5, 5, 7, 9] -> 2
        #expect(Statistics.std([2, 4, 4, 4, 5, 5, 7, 9]) == 2)
        #expect(MetricSelection.label(99) == "p99" && MetricSelection.label(99.9) == "p99.9")
    }

    static func outcome(_ i: Int, tenant: Int = 0, ttft: Double, gaps: [Double], tokens: Int, sent: Double = 0) -> RequestOutcome {
        var o = RequestOutcome(index: i, tenant: tenant, adapter: "ad\(i % 2)")
        o.success = true
        o.status = 200
        o.sent = sent
        o.ttft = ttft
        o.itl = gaps
        o.latency = ttft + gaps.reduce(0, +)
        o.promptTokens = 10
        o.outputTokens = tokens
        o.usageReported = true
        return o
    }

    func record(_ outcomes: [RequestOutcome], duration: Double = 2, scenario: Scenario = Scenario(), weights: [Double] = [1]) -> RunRecord {
        RunRecord(scenario: scenario, outcomes: outcomes, duration: duration, startedAt: Date(timeIntervalSince1970: 0),
                  clientCPUSeconds: 0.1, sendLag: [0.001],
                  tenantNames: weights.indices.map { "t\($0)" }, tenantWeights: weights)
    }

    @Test func vLLMDefinitionsOnAKnownRun() throws {
        // Two answers: 3 tokens (TTFT 0.1, gaps 0.02 and 0.04), and 1 token (TTFT 0.3); one failure.
        var failed = RequestOutcome(index: 2, tenant: 0, adapter: nil)
        failed.status = 503
        failed.failure = "503"
        let runs = [Self.outcome(0, ttft: 0.1, gaps: [0.02, 0.04], tokens: 3), Self.outcome(1, ttft: 0.3, gaps: [], tokens: 1), failed]
        var s = Scenario()
        s.goodput = ["ttft:200"]
        let r = try BenchmarkResult(record(runs, scenario: s), baseURL: "http://x", model: "m", detailed: true)
        let j = r.json
        #expect(j["completed"]?.double == 2 && j["failed"]?.double == 1)
        #expect(j["total_input_tokens"]?.double == 20 && j["total_output_tokens"]?.double == 4)
        #expect(j["request_throughput"]?.double == 1)
        #expect(j["output_throughput"]?.double == 2)
        #expect(j["total_token_throughput"]?.double == 12)
        #expect(j["request_goodput"]?.double == 0.5)
        #expect(abs(j["mean_ttft_ms"]!.double! - 200) < 1e-9)
        #expect(abs(j["median_ttft_ms"]!.double! - 200) < 1e-9)
        #expect(abs(j["std_ttft_ms"]!.double! - 100) < 1e-9)
        #expect(abs(j["p99_ttft_ms"]!.double! - 298) < 1e-9)
        // TPOT only over answers longer than one token: (0.16 - 0.1) / 2 = 30 ms.
        #expect(r.tpots.count == 1 && abs(j["mean_tpot_ms"]!.double! - 30) < 1e-9)
        #expect(abs(j["mean_itl_ms"]!.double! - 30) < 1e-9)
        #expect(abs(j["mean_e2el_ms"]!.double! - 230) < 1e-9)
        #expect(j["failures"]?["503"]?.double == 1)
        #expect(j["output_lens"] == JSONValue.array([.number(3), .number(1), .number(0)]))
        // vLLM's own field order comes first.
        if case .object(let pairs) = j { #expect(pairs.prefix(3).map { $0.0 } == ["date", "backend", "base_url"]) }
    }

    @Test func noGoodputWithoutSLOs() throws {
        let r = try BenchmarkResult(record([Self.outcome(0, ttft: 0.1, gaps: [0.01], tokens: 2)]), baseURL: "", model: "m", detailed: false)
        #expect(r.json["request_goodput"] == .null)
        #expect(r.json["ttfts"] == nil)
    }

    @Test func fairnessCountsServiceWhileEveryTenantIsActive() throws {
        // Tenant 0 (weight 2) gets 20 chunks at 0.1..0.29 s; tenant 1 (weight 1) 10 chunks at 0.1..0.28 s, then a late
        // request whose chunks fall after tenant 0 is done and must not count.
        var late = Self.outcome(2, tenant: 1, ttft: 0.1, gaps: Array(repeating: 0.01, count: 9), tokens: 10, sent: 0.5)
        late.promptTokens = 1
        let runs = [Self.outcome(0, tenant: 0, ttft: 0.1, gaps: Array(repeating: 0.01, count: 19), tokens: 20),
                    Self.outcome(1, tenant: 1, ttft: 0.1, gaps: Array(repeating: 0.02, count: 9), tokens: 10), late]
        let r = try BenchmarkResult(record(runs, duration: 1, weights: [2, 1]), baseURL: "", model: "m", detailed: false)
        // Window [0, 0.29]: tenant 0 has 20 chunks, tenant 1 has 10: both 10 per unit of weight.
        #expect(abs(r.fairness! - 1) < 1e-9)
        #expect(r.fairnessWindow.map { abs($0.1 - 0.29) < 1e-9 } == true)
        #expect(r.groups["tenant"]?.map(\.outputTokens) == [20, 20])
        #expect(r.groups["adapter"]?.count == 2)
        // Equal service despite weights 1:2 reads as 2.
        let same = (0..<2).map { Self.outcome($0, tenant: $0, ttft: 0.1, gaps: Array(repeating: 0.02, count: 9), tokens: 10) }
        let even = try BenchmarkResult(record(same, duration: 1, weights: [1, 2]), baseURL: "", model: "m", detailed: false)
        #expect(abs(even.fairness! - 2) < 1e-9)
    }

    @Test func throughputOverTimeCountsChunksPerSecond() throws {
        let runs = [Self.outcome(0, ttft: 0.5, gaps: [0.2, 0.2, 0.2], tokens: 4, sent: 0.1)]
        let r = try BenchmarkResult(record(runs, duration: 2.5), baseURL: "", model: "m", detailed: false)
        // Chunks at 0.6, 0.8, 1.0, 1.2 s.
        #expect(r.series.map(\.1) == [2, 2, 0])
        #expect(r.json["max_output_tokens_per_s"]?.double == 2)
    }

    @Test func badSelectionsAndSLOsAreRefused() {
        #expect(throws: LoadTestError.self) { try MetricSelection(metrics: "ttft,nope", percentiles: "99") }
        #expect(throws: LoadTestError.self) { try MetricSelection(metrics: "ttft", percentiles: "101") }
        #expect(throws: LoadTestError.self) { try GoodputSLO.parse(["itl:5"]) }
        #expect(throws: LoadTestError.self) { try GoodputSLO.parse(["ttft"]) }
        #expect((try? GoodputSLO.parse(["ttft:5", "e2el:100"]))?.bounds == ["ttft": 5, "e2el": 100])
    }

    @Test func latencyHistogramsKeepThreeDigits() {
        var h = LatencyHistogram()
        for ms in 1...1000 { h.record(seconds: Double(ms) / 1000) }
        #expect(abs(h.percentileMs(50) - 500) < 1)
        #expect(abs(h.percentileMs(99) - 990) < 1)
        #expect(h.cdf().last?.1 == 1)
    }

    @Test func theReportIsSelfContained() throws {
        let runs = (0..<6).map { Self.outcome($0, tenant: $0 % 2, ttft: 0.1 * Double($0 + 1), gaps: [0.01, 0.02], tokens: 3, sent: Double($0) * 0.3) }
        let r = try BenchmarkResult(record(runs, weights: [1, 1]), baseURL: "", model: "m", detailed: false)
        let html = HTMLReport.render(title: "t <&>", results: [r, r], rates: [1, 2], machine: "test machine")
        #expect(!html.contains("http://") || html.components(separatedBy: "http://").count - 1 == html.components(separatedBy: "xmlns=\"http://www.w3.org/2000/svg\"").count - 1)
        #expect(!html.contains("<script"))
        #expect(html.contains("t &lt;&amp;&gt;"))
        #expect(html.components(separatedBy: "<svg").count - 1 >= 10)
        #expect(html.components(separatedBy: "<svg").count == html.components(separatedBy: "</svg>").count)
        #expect(ResultSummary.text(r).contains("Mean TTFT (ms):"))
    }
}
