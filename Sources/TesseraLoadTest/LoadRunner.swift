import Foundation

/// Sends a scenario's requests at their arrival times (held back by `max_concurrency`), and collects the outcomes.
public struct LoadRunner: Sendable {
    public let scenario: Scenario
    public let dataset: [DatasetEntry]
    public let transport: any Transport
    public let baseModel: String
    public let keys: [String?]
    /// Where the live progress line goes (a terminal), or nil.
    public let progress: (@Sendable (String) -> Void)?

    public init(scenario: Scenario, dataset: [DatasetEntry] = [], transport: any Transport, baseModel: String, keys: [String?],
                progress: (@Sendable (String) -> Void)? = nil) {
        self.scenario = scenario; self.dataset = dataset; self.transport = transport
        self.baseModel = baseModel; self.keys = keys; self.progress = progress
    }

    public func run() async -> RunRecord {
        let s = scenario
        let counters = LiveCounters()
        let gate = s.max_concurrency.map { ConcurrencyGate($0) }
        let runID = "lt-" + String(UInt64.random(in: 0..<(1 << 40)), radix: 36)
        let cpu0 = processCPUSeconds(), retried0 = transport.retriedRequests
        let start = monotonicSeconds()
        let startedAt = Date()
        let runner = RequestRunner(transport: transport, scenario: s, baseModel: baseModel, keys: keys, runID: runID,
                                   runStart: start, counters: counters)
        // Count-bound runs are planned whole (so arrivals can be rescaled as vLLM does); duration-bound ones as they go.
        var planned = s.duration == nil ? Workload.plan(s, dataset: dataset) : []
        var live = Workload(scenario: s, dataset: dataset)
        var cursor = 0
        func nextRequest() -> PlannedRequest? {
            if s.duration == nil {
                defer { cursor += 1 }
                return cursor < planned.count ? planned[cursor] : nil
            }
            return live.next()
        }
        let ticker = progress.map { sink in
            Task {
                var previous = (chunks: 0, at: start)
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    if Task.isCancelled { break }
                    let now = monotonicSeconds(), chunks = counters.snapshot.chunks
                    let recent = Double(chunks - previous.chunks) / max(now - previous.at, 1e-3)
                    previous = (chunks, now)
                    sink(Self.progressLine(counters, elapsed: now - start, total: s.num_prompts, tokensPerSecond: recent))
                }
            }
        }
        var lag: [Double] = []
        let outcomes = await withTaskGroup(of: RequestOutcome.self) { group in
            while !Task.isCancelled, let r = nextRequest() {
                let wait = start + r.arrival - monotonicSeconds()
                if wait > 0 {
                    try? await Task.sleep(for: .seconds(wait))
                    // Lateness of the wake-up alone: a request held back by max_concurrency is late by design.
                    lag.append(max(0, monotonicSeconds() - start - r.arrival))
                }
                if let d = s.duration, monotonicSeconds() - start > d { break }
                if let gate { await gate.acquire() }
                if let d = s.duration, monotonicSeconds() - start > d {
                    await gate?.release()
                    break
                }
                counters.started()
                group.addTask {
                    let o = await runner.run(r)
                    counters.finished(success: o.success)
                    await gate?.release()
                    return o
                }
            }
            var all: [RequestOutcome] = []
            for await o in group { all.append(o) }
            return all.sorted { $0.index < $1.index }
        }
        planned.removeAll()
        let duration = monotonicSeconds() - start
        ticker?.cancel()
        await ticker?.value
        let chunks = Double(counters.snapshot.chunks)
        if let progress { progress(Self.progressLine(counters, elapsed: duration, total: s.num_prompts, tokensPerSecond: chunks / duration) + "\n") }
        var record = RunRecord(scenario: s, outcomes: outcomes, duration: duration, startedAt: startedAt,
                               clientCPUSeconds: processCPUSeconds() - cpu0, sendLag: lag,
                               tenantNames: s.tenants.isEmpty ? ["default"] : s.tenants.map(\.name),
                               tenantWeights: s.tenants.isEmpty ? [1] : s.tenants.map(\.weight))
        record.retriedRequests = transport.retriedRequests - retried0
        return record
    }

    /// Chunks with choices count as tokens here (one token each on every server we know), as for
    /// max_output_tokens_per_s; the final figures come from usage.
    static func progressLine(_ c: LiveCounters, elapsed: Double, total: Int?, tokensPerSecond: Double) -> String {
        let v = c.snapshot
        let of = total.map { "/\($0)" } ?? ""
        let rate = elapsed > 0 ? Double(v.completed) / elapsed : 0
        return "\r[" + fixed(elapsed, 1) + "s] completed \(v.completed)\(of)  failed \(v.failed)  in flight \(v.inFlight)  "
            + fixed(rate, 2) + " req/s  " + fixed(tokensPerSecond, 1) + " tok/s   "
    }
}
