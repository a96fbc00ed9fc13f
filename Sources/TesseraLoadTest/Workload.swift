import Foundation

/// One request as planned before the run: when it is sent, by whom, with which adapter, prompt and output length.
public struct PlannedRequest: Sendable, Equatable {
    public var index: Int
    /// Seconds after the start of the run.
    public var arrival: Double
    public var tenant: Int
    /// nil: the base model.
    public var adapter: String?
    public var prompt: Prompt
    public var inputLength: Int
    public var outputLength: Int
}

public enum Prompt: Sendable, Equatable {
    case text(String)
    case tokens([Int])
}

/// Makes the planned requests of a scenario one at a time (a duration-bound run has no fixed count). Each facet has
/// its own seeded generator, so changing the tenants does not change the arrivals or the prompts.
public struct Workload: Sendable {
    public let scenario: Scenario
    let dataset: [DatasetEntry]
    private var arrivals, lengths, tokens, tenants, adapters: SeededRandom
    private var index = 0
    private var clock = 0.0
    private let shareCumulative: [Double]
    private let zipfCumulative: [Double]

    public init(scenario: Scenario, dataset: [DatasetEntry] = []) {
        self.scenario = scenario
        self.dataset = dataset
        let s = scenario.seed
        arrivals = SeededRandom(seed: s); lengths = SeededRandom(seed: s &+ 1); tokens = SeededRandom(seed: s &+ 2)
        tenants = SeededRandom(seed: s &+ 3); adapters = SeededRandom(seed: s &+ 4)
        shareCumulative = Workload.cumulative(scenario.tenants.map(\.share))
        let m = scenario.adapters
        zipfCumulative = m.distribution == .skewed ? Workload.cumulative((1...m.num_adapters).map { 1 / pow(Double($0), m.zipf_s) }) : []
    }

    public mutating func next() -> PlannedRequest? {
        let s = scenario
        if let n = s.num_prompts, index >= n { return nil }
        clock += interval()
        if let d = s.duration, clock > d { return nil }
        defer { index += 1 }
        let tenant = shareCumulative.isEmpty ? 0 : Workload.pick(shareCumulative, &tenants)
        let (prompt, inputLength, outputLength) = makePrompt()
        return PlannedRequest(index: index, arrival: clock, tenant: tenant, adapter: chooseAdapter(),
                              prompt: prompt, inputLength: inputLength, outputLength: outputLength)
    }

    /// vLLM's arrivals: Gamma(burstiness, 1/(rate·burstiness)) gaps; with a fixed rate and count the gaps are rescaled
    /// afterwards so the last request is sent at n/rate (`rescale` below), as `vllm bench serve` does.
    private mutating func interval() -> Double {
        guard let rate = currentRate() else { return 0 }
        return arrivals.gamma(shape: scenario.burstiness, scale: 1 / (rate * scenario.burstiness))
    }

    private func currentRate() -> Double? {
        let s = scenario
        guard let strategy = s.ramp_up_strategy, let a = s.ramp_up_start_rps, let b = s.ramp_up_end_rps else { return s.request_rate }
        let progress: Double
        if let n = s.num_prompts, n > 1 { progress = Double(index) / Double(n - 1) } else if let d = s.duration { progress = min(clock / d, 1) } else { progress = 0 }
        let rate = strategy == .linear ? a + (b - a) * progress : a * pow(b / a, progress)
        return max(rate, 1e-3)
    }

    private mutating func makePrompt() -> (Prompt, Int, Int) {
        let s = scenario
        if !dataset.isEmpty {
            let e = dataset[index % dataset.count]
            return (e.prompt, e.inputLength, e.outputLength ?? s.random_output_len)
        }
        let inLen = Workload.length(s.random_input_len, s.random_range_ratio, &lengths)
        let outLen = Workload.length(s.random_output_len, s.random_range_ratio, &lengths)
        let low = s.random_token_range[0], span = UInt64(s.random_token_range[1] - low)
        if s.endpoint == "/v1/chat/completions" {
            let words = (0..<inLen).map { _ in Workload.words[Int(tokens.next() % UInt64(Workload.words.count))] }
            return (.text(words.joined(separator: " ")), inLen, outLen)
        }
        return (.tokens((0..<inLen).map { _ in low + Int(tokens.next() % span) }), inLen, outLen)
    }

    private mutating func chooseAdapter() -> String? {
        let m = scenario.adapters
        let n = m.num_adapters
        switch m.distribution {
        case .none: return nil
        case .power_law: return m.name(min(Int(adapters.power(m.alpha) * Double(n)), n - 1))
        case .distinct, .round_robin: return m.name(index % n)
        case .uniform: return m.name(Int(adapters.next() % UInt64(n)))
        case .skewed: return m.name(Workload.pick(zipfCumulative, &adapters))
        case .identical: return m.name(0)
        case .explicit:
            let w = m.weights ?? Array(repeating: 1, count: m.names.count)
            return m.name(Workload.pick(Workload.cumulative(w), &adapters))
        }
    }

    /// All planned requests of a count-bound scenario, with arrivals rescaled as vLLM does.
    public static func plan(_ scenario: Scenario, dataset: [DatasetEntry] = []) -> [PlannedRequest] {
        var w = Workload(scenario: scenario, dataset: dataset)
        var out: [PlannedRequest] = []
        while let r = w.next() { out.append(r) }
        rescale(&out, scenario)
        return out
    }

    static func rescale(_ requests: inout [PlannedRequest], _ s: Scenario) {
        guard s.ramp_up_strategy == nil, s.duration == nil, let rate = s.request_rate, let last = requests.last?.arrival, last > 0 else { return }
        let factor = Double(requests.count) / rate / last
        for i in requests.indices { requests[i].arrival *= factor }
    }

    static func length(_ mean: Int, _ ratio: Double, _ rng: inout SeededRandom) -> Int {
        let lo = max(Int(Double(mean) * (1 - ratio)), 1), hi = max(Int(Double(mean) * (1 + ratio)), lo)
        return lo + Int(rng.next() % UInt64(hi - lo + 1))
    }

    static func cumulative(_ weights: [Double]) -> [Double] {
        var sum = 0.0
        return weights.map { sum += $0; return sum }
    }

    static func pick(_ cumulative: [Double], _ rng: inout SeededRandom) -> Int {
        let x = rng.unit() * cumulative[cumulative.count - 1]
        var lo = 0, hi = cumulative.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if cumulative[mid] > x { hi = mid } else { lo = mid + 1 }
        }
        return lo
    }

    /// Common English words that byte-level BPE vocabularies hold as one token each (with their leading space), so a
    /// chat prompt of n words is close to n tokens; the server's `usage.prompt_tokens` gives the exact count.
    static let words = """
        the of and to in is it you that he was for on are with as his they be at one have this from or had by word but \
        what some we can out other were all there when up use your how said an each she which do their time if will way \
        about many then them write would like so these her long make thing see him two has look more day could go come \
        did number sound no most people my over know water than call first who may down side been now find any new work \
        part take get place made live where after back little only round man year came show every good me give our under
        """.split(separator: " ").map(String.init)
}
