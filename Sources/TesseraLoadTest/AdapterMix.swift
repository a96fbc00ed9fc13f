import Foundation

/// Which adapter each request names, and (for `--setup`) what the adapters are.
public struct AdapterMix: Codable, Sendable, Equatable {
    public enum Distribution: String, Codable, Sendable, CaseIterable {
        /// No adapter: every request names the base model.
        case none
        /// S-LoRA: adapter `floor(power(alpha) · num_adapters)`.
        case power_law
        /// Punica "distinct": request i uses adapter i (mod num_adapters).
        case distinct
        /// Punica "uniform": uniform over ceil(sqrt(requests)) adapters.
        case uniform
        /// Punica "skewed": Zipf with exponent `zipf_s` over num_adapters.
        case skewed
        /// Punica "identical": every request uses the first adapter.
        case identical
        case round_robin
        /// `names` (vLLM's `--lora-modules`), picked with `weights` or uniformly.
        case explicit
    }

    public var distribution = Distribution.none
    public var num_adapters = 1
    public var alpha = 1.0
    public var zipf_s = 1.5
    public var names: [String] = []
    public var weights: [Double]?
    /// Generated adapters are named prefix + index.
    public var prefix = "lt-adapter-"
    /// What `--setup` uploads: random PEFT LoRAs of this rank on these modules, shaped for `base`.
    public var rank = 8
    public var lora_alpha = 16.0
    public var target_modules = ["q_proj", "v_proj"]
    public var base: BaseShape?

    public init() {}

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        var m = AdapterMix()
        m.distribution = try c.decodeIfPresent(Distribution.self, forKey: .distribution) ?? m.distribution
        m.num_adapters = try c.decodeIfPresent(Int.self, forKey: .num_adapters) ?? m.num_adapters
        m.alpha = try c.decodeIfPresent(Double.self, forKey: .alpha) ?? m.alpha
        m.zipf_s = try c.decodeIfPresent(Double.self, forKey: .zipf_s) ?? m.zipf_s
        m.names = try c.decodeIfPresent([String].self, forKey: .names) ?? m.names
        m.weights = try c.decodeIfPresent([Double].self, forKey: .weights)
        m.prefix = try c.decodeIfPresent(String.self, forKey: .prefix) ?? m.prefix
        m.rank = try c.decodeIfPresent(Int.self, forKey: .rank) ?? m.rank
        m.lora_alpha = try c.decodeIfPresent(Double.self, forKey: .lora_alpha) ?? m.lora_alpha
        m.target_modules = try c.decodeIfPresent([String].self, forKey: .target_modules) ?? m.target_modules
        m.base = try c.decodeIfPresent(BaseShape.self, forKey: .base)
        self = m
    }

    func validate() throws(LoadTestError) {
        guard num_adapters >= 1 else { throw LoadTestError("adapters.num_adapters must be at least 1") }
        guard alpha > 0, zipf_s > 0 else { throw LoadTestError("adapters.alpha and adapters.zipf_s must be positive") }
        if distribution == .explicit {
            guard !names.isEmpty else { throw LoadTestError("adapters.distribution explicit needs names (or --lora-modules)") }
            if let w = weights, w.count != names.count || w.contains(where: { !($0 >= 0) }) || !w.contains(where: { $0 > 0 }) {
                throw LoadTestError("adapters.weights must give one non-negative weight per name, not all zero")
            }
        }
        guard (1...256).contains(rank) else { throw LoadTestError("adapters.rank must be in 1...256") }
        let known = Set(BaseShape.modules)
        for t in target_modules where !known.contains(t) {
            throw LoadTestError("adapters.target_modules: \(t) is not one of \(BaseShape.modules.joined(separator: ", "))")
        }
    }

    /// The name a request sends for adapter `index`.
    public func name(_ index: Int) -> String { distribution == .explicit ? names[index] : "\(prefix)\(index)" }
}
