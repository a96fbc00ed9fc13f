import TesseraAdapters
import TesseraModel

/// Adapters with random weights for the benchmarks, in the model's terms (no files): full-entropy values in ±0.01,
/// as trained weights have, so storage and compression figures are honest.
struct RandomAdapters {
    let config: ModelConfig
    private var seed: UInt64

    init(config: ModelConfig, seed: UInt64 = 1) {
        self.config = config
        self.seed = seed
    }

    mutating func values(_ n: Int, around center: Float = 0) -> [Float] {
        (0..<n).map { _ in
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return center + (Float(seed >> 40) / Float(1 << 24) - 0.5) * 0.02
        }
    }

    mutating func lora(rank: Int, _ projections: [Projection], dora: Bool = false) -> AdapterWeights {
        let c = config
        var deltas = [[LowRankDelta?]](repeating: Array(repeating: nil, count: Projection.allCases.count), count: c.layers)
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
    mutating func prompt(tokens: Int) -> AdapterWeights {
        AdapterWeights(deltas: PEFTAdapter.noDeltas(config), virtualTokens: values(tokens * config.hidden), virtualTokenCount: tokens)
    }

    mutating func prefix(entries: Int) -> AdapterWeights {
        let width = config.layers * 2 * config.kvHeads * config.headDim
        return AdapterWeights(deltas: PEFTAdapter.noDeltas(config), prefix: values(entries * width), prefixTokenCount: entries)
    }
}
