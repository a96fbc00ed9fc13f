import Foundation
import Prometheus
import Synchronization
import TesseraEngine

/// `/metrics` in Prometheus text (DESIGN 3.11): the `vllm:` names the Gateway API Inference Extension reads, plus
/// `tessera_*` per tenant and model (base or adapter name).
public final class ServerMetrics: Sendable {
    private let registry = PrometheusCollectorRegistry()
    private let ttft: DurationHistogram
    private let itl: DurationHistogram
    private let e2e: DurationHistogram
    private let promptTokens: Prometheus.Counter
    private let generationTokens: Prometheus.Counter
    /// Adapter names by engine key (store ids), for `vllm:lora_requests_info`.
    private let names = Mutex<[String: String]>([:])

    public init() {
        func seconds(_ s: [Double]) -> [Duration] { s.map { .milliseconds(Int64($0 * 1000)) } }
        ttft = registry.makeDurationHistogram(
            descriptor: .init(metricName: "vllm:time_to_first_token", unitName: "seconds", helpText: "Time to first token."),
            buckets: seconds([0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 10, 20, 40, 80]))
        itl = registry.makeDurationHistogram(
            descriptor: .init(metricName: "vllm:inter_token_latency", unitName: "seconds", helpText: "Time between tokens."),
            buckets: seconds([0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2.5]))
        e2e = registry.makeDurationHistogram(
            descriptor: .init(metricName: "vllm:e2e_request_latency", unitName: "seconds", helpText: "Request latency."),
            buckets: seconds([0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320]))
        promptTokens = registry.makeCounter(descriptor: .init(metricName: "vllm:prompt_tokens", unitName: "total", helpText: "Prompt tokens."))
        generationTokens = registry.makeCounter(descriptor: .init(metricName: "vllm:generation_tokens", unitName: "total", helpText: "Generated tokens."))
    }

    func remember(adapterKey: String?, name: String) {
        guard let adapterKey else { return }
        names.withLock { $0[adapterKey] = name }
    }

    /// A deleted adapter's series and names go with it, so adapters made and removed all day do not grow `/metrics`
    /// (nor the server's memory) without bound.
    func forget(tenant: String, model: String, adapterKeys: [String]) {
        names.withLock { n in for k in adapterKeys { n[k] = nil } }
        for name in ["tessera_requests", "tessera_prompt_tokens", "tessera_generation_tokens"] {
            registry.unregisterCounter(counter(name, tenant: tenant, model: model))
        }
    }

    /// One engine request's timings and counts, per tenant and model.
    final class Recorder: @unchecked Sendable {  // used by one route handler at a time
        let metrics: ServerMetrics
        let tenant: String, model: String
        let start = ContinuousClock.now
        var last: ContinuousClock.Instant?

        init(_ metrics: ServerMetrics, tenant: String, model: String) {
            self.metrics = metrics
            self.tenant = tenant
            self.model = model
            metrics.counter("tessera_requests", tenant: tenant, model: model).increment()
        }

        func token() {
            let now = ContinuousClock.now
            if let last { metrics.itl.record(now - last) } else { metrics.ttft.record(now - start) }
            last = now
        }

        func finished(_ c: Completion) {
            metrics.e2e.record(ContinuousClock.now - start)
            metrics.promptTokens.increment(by: Int64(c.promptTokens))
            metrics.generationTokens.increment(by: Int64(c.completionTokens))
            metrics.counter("tessera_prompt_tokens", tenant: tenant, model: model).increment(by: Int64(c.promptTokens))
            metrics.counter("tessera_generation_tokens", tenant: tenant, model: model).increment(by: Int64(c.completionTokens))
            metrics.registry.makeCounter(descriptor: .init(metricName: "vllm:request_success", unitName: "total", helpText: "Finished requests."),
                                         labels: [("finished_reason", c.reason.rawValue)]).increment()
        }
    }

    fileprivate func counter(_ name: String, tenant: String, model: String) -> Prometheus.Counter {
        registry.makeCounter(descriptor: .init(metricName: name, unitName: "total", helpText: ""), labels: [("tenant", tenant), ("model", model)])
    }

    /// A refused or failed request, by tenant and error code.
    func error(tenant: String, code: String) {
        registry.makeCounter(descriptor: .init(metricName: "tessera_request_errors", unitName: "total", helpText: "Requests answered with an error."),
                             labels: [("tenant", tenant), ("code", code)]).increment()
    }

    /// The exposition: counters and histograms, then the engine's gauges as of now.
    public func render(engine: Engine) -> String {
        let s = engine.stats
        let known = names.withLock { $0 }
        func adapterNames(_ keys: Set<String>) -> String {
            keys.flatMap { $0.split(separator: "+").map { known[String($0)] ?? String($0) } }.sorted().joined(separator: ",")
        }
        var out = registry.emitToString()
        out += """
            # TYPE vllm:num_requests_running gauge
            vllm:num_requests_running \(s.running)
            # TYPE vllm:num_requests_waiting gauge
            vllm:num_requests_waiting \(s.waiting)
            # TYPE vllm:kv_cache_usage_perc gauge
            vllm:kv_cache_usage_perc \(s.kvCacheUsage)
            # TYPE vllm:num_preemptions_total counter
            vllm:num_preemptions_total \(s.preemptions)
            # TYPE vllm:lora_requests_info gauge
            vllm:lora_requests_info{running_lora_adapters="\(adapterNames(s.runningAdapters))",waiting_lora_adapters="\(adapterNames(s.waitingAdapters))",max_lora="\(engine.configuration.maxAdaptersPerStep)"} \(Date().timeIntervalSince1970)

            """
        return out
    }
}
