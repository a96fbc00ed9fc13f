/// Adapters with random weights for benchmarks and tests, in the model's terms (no files): full-entropy values in
/// ±0.01, as trained weights have, so storage and compression figures are honest. Deterministic for a seed.
public struct RandomAdapters: Sendable {
    public let config: ModelConfig
    private var seed: UInt64

    public init(config: ModelConfig, seed: UInt64 = 1) {
        self.config = config
        self.seed = seed
    }

    public mutating func values(_ n: Int, around center: Float = 0) -> [Float] {
        (0..<n).map { _ in
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return center + (Float(seed >> 40) / Float(1 << 24) - 0.5) * 0.02
        }
    }

    public mutating func lora(rank: Int, _ projections: [Projection], dora: Bool = false) -> AdapterWeights {
        let c = config
        var deltas = AdapterWeights.noDeltas(c)
        for l in 0..<c.layers {
            for p in projections {
                let (o, i) = p.shape(c)
                deltas[l][p.rawValue] = LowRankDelta(
                    rank: rank, inputs: i, outputs: o, a: values(rank * i), b: values(o * rank),
                    doraScale: dora ? values(o, around: 1) : nil)
            }
        }
        return AdapterWeights(deltas: deltas)
    }

    /// Prompt tuning and P-tuning look the same to the model: virtual token embeddings.
    public mutating func prompt(tokens: Int) -> AdapterWeights {
        AdapterWeights(deltas: AdapterWeights.noDeltas(config), virtualTokens: values(tokens * config.hidden), virtualTokenCount: tokens)
    }

    public mutating func prefix(entries: Int) -> AdapterWeights {
        let width = config.layers * 2 * config.kvHeads * config.headDim
        return AdapterWeights(deltas: AdapterWeights.noDeltas(config), prefix: values(entries * width), prefixTokenCount: entries)
    }
}
