import Foundation

/// A load-test workload, as a JSON file (`loadtest/scenarios/*.json`) or built from flags; flags override its fields.
/// Field names follow `vllm bench serve`'s flags (`--random-input-len` is `random_input_len`) where vLLM has the concept.
public struct Scenario: Codable, Sendable, Equatable {
    public var name = "adhoc"
    public var description: String?
    /// `/v1/completions` or `/v1/chat/completions`.
    public var endpoint = "/v1/completions"
    /// The base model's name, sent when a request uses no adapter.
    public var model: String?
    /// Requests to send; with `duration` the run stops at whichever comes first.
    public var num_prompts: Int? = 100
    /// Seconds to keep sending.
    public var duration: Double?
    /// Requests per second; nil means all at once.
    public var request_rate: Double?
    /// Gamma shape of inter-arrival times: 1 is Poisson, below 1 burstier, above 1 more regular.
    public var burstiness = 1.0
    public var ramp_up_strategy: RampUp?
    public var ramp_up_start_rps: Double?
    public var ramp_up_end_rps: Double?
    public var max_concurrency: Int?
    public var random_input_len = 128
    public var random_output_len = 128
    /// Lengths uniform in [len·(1-ratio), len·(1+ratio)].
    public var random_range_ratio = 0.0
    /// Token ids random prompts are drawn from (ids below the lower end are mostly special tokens).
    public var random_token_range = [1000, 30000]
    /// JSONL file of prompts (`prompt` string or token-id array, optional `output_len`); replaces random prompts.
    public var dataset_path: String?
    public var ignore_eos = false
    public var temperature = 0.0
    public var seed: UInt64 = 0
    /// Seconds a request may take before it counts as failed.
    public var timeout = 600.0
    public var http2 = false
    public var adapters = AdapterMix()
    /// Who sends; empty means one tenant with the key from OPENAI_API_KEY.
    public var tenants: [TenantSpec] = []
    public var goodput: [String]?
    public var percentile_metrics = "ttft,tpot,itl,e2el"
    public var metric_percentiles = "50,90,95,99"

    public enum RampUp: String, Codable, Sendable { case linear, exponential }

    public init() {}

    public init(from decoder: any Decoder) throws {
        // Every field optional in the file: the defaults above fill what a scenario leaves out.
        let c = try decoder.container(keyedBy: CodingKeys.self)
        var s = Scenario()
        func take<T: Decodable>(_ key: CodingKeys, _ path: WritableKeyPath<Scenario, T>) throws {
            if let v = try c.decodeIfPresent(T.self, forKey: key) { s[keyPath: path] = v }
        }
        func takeOptional<T: Decodable>(_ key: CodingKeys, _ path: WritableKeyPath<Scenario, T?>) throws {
            if c.contains(key) { s[keyPath: path] = try c.decodeIfPresent(T.self, forKey: key) }
        }
        try take(.name, \.name); try takeOptional(.description, \.description); try take(.endpoint, \.endpoint)
        try takeOptional(.model, \.model); try takeOptional(.num_prompts, \.num_prompts); try takeOptional(.duration, \.duration)
        try takeOptional(.request_rate, \.request_rate); try take(.burstiness, \.burstiness)
        try takeOptional(.ramp_up_strategy, \.ramp_up_strategy); try takeOptional(.ramp_up_start_rps, \.ramp_up_start_rps)
        try takeOptional(.ramp_up_end_rps, \.ramp_up_end_rps); try takeOptional(.max_concurrency, \.max_concurrency)
        try take(.random_input_len, \.random_input_len); try take(.random_output_len, \.random_output_len)
        try take(.random_range_ratio, \.random_range_ratio); try take(.random_token_range, \.random_token_range)
        try takeOptional(.dataset_path, \.dataset_path); try take(.ignore_eos, \.ignore_eos)
        try take(.temperature, \.temperature); try take(.seed, \.seed); try take(.timeout, \.timeout)
        try take(.http2, \.http2); try take(.adapters, \.adapters); try take(.tenants, \.tenants)
        try takeOptional(.goodput, \.goodput); try take(.percentile_metrics, \.percentile_metrics)
        try take(.metric_percentiles, \.metric_percentiles)
        self = s
    }

    public static func load(path: String) throws(LoadTestError) -> Scenario {
        guard let data = FileManager.default.contents(atPath: path) else { throw LoadTestError("cannot read scenario file \(path)") }
        do {
            return try JSONDecoder().decode(Scenario.self, from: data)
        } catch let e as DecodingError {
            throw LoadTestError("scenario \(path): \(LoadTestError.describe(e))")
        } catch {
            throw LoadTestError("scenario \(path): \(error)")
        }
    }

    /// Every field checked once, before anything is sent.
    public func validate() throws(LoadTestError) {
        guard endpoint == "/v1/completions" || endpoint == "/v1/chat/completions" else {
            throw LoadTestError("endpoint must be /v1/completions or /v1/chat/completions, got \(endpoint)")
        }
        guard num_prompts != nil || duration != nil else { throw LoadTestError("give num_prompts, duration or both") }
        if let n = num_prompts, n < 1 { throw LoadTestError("num_prompts must be at least 1, got \(n)") }
        if let d = duration, !(d > 0) { throw LoadTestError("duration must be positive, got \(d)") }
        if let r = request_rate, !(r > 0) { throw LoadTestError("request_rate must be positive (leave it out for all at once), got \(r)") }
        if duration != nil, request_rate == nil, max_concurrency == nil, ramp_up_strategy == nil {
            throw LoadTestError("a duration with no request_rate needs max_concurrency, or the client would send without end")
        }
        guard burstiness > 0, burstiness.isFinite else { throw LoadTestError("burstiness must be positive, got \(burstiness)") }
        if let s = ramp_up_strategy {
            guard let a = ramp_up_start_rps, let b = ramp_up_end_rps, a >= 0, b > 0 else {
                throw LoadTestError("ramp_up_strategy \(s.rawValue) needs ramp_up_start_rps >= 0 and ramp_up_end_rps > 0")
            }
            if s == .exponential, a <= 0 { throw LoadTestError("an exponential ramp-up needs ramp_up_start_rps > 0") }
        }
        if let m = max_concurrency, m < 1 { throw LoadTestError("max_concurrency must be at least 1, got \(m)") }
        guard random_input_len >= 1, random_output_len >= 1 else { throw LoadTestError("random_input_len and random_output_len must be at least 1") }
        guard (0..<1).contains(random_range_ratio) else { throw LoadTestError("random_range_ratio must be in [0, 1), got \(random_range_ratio)") }
        guard random_token_range.count == 2, random_token_range[0] >= 0, random_token_range[0] < random_token_range[1] else {
            throw LoadTestError("random_token_range must be [low, high) with 0 <= low < high")
        }
        guard timeout > 0 else { throw LoadTestError("timeout must be positive") }
        try adapters.validate()
        var names = Set<String>()
        for t in tenants {
            guard !t.name.isEmpty, names.insert(t.name).inserted else { throw LoadTestError("tenant names must be non-empty and distinct (\(t.name))") }
            guard t.share > 0, t.weight > 0 else { throw LoadTestError("tenant \(t.name): share and weight must be positive") }
        }
        _ = try GoodputSLO.parse(goodput ?? [])
        _ = try MetricSelection(metrics: percentile_metrics, percentiles: metric_percentiles)
    }
}
