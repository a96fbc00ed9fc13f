import TesseraModel

extension AdapterParameters {
    /// This adapter in the serving engine's form (scale folded into B, DoRA's row factors computed), so the methods
    /// that generate (on-policy distillation, RLHF's rollouts, Constitutional AI) sample from the adapter as it
    /// trains, without writing it out.
    public func servingWeights(base: DecoderWeights) -> AdapterWeights {
        switch kind {
        case .prompt, .pTuning:
            return AdapterWeights(deltas: AdapterWeights.noDeltas(config), virtualTokens: virtualRows, virtualTokenCount: virtualTokens)
        case .prefix:
            return AdapterWeights(deltas: AdapterWeights.noDeltas(config), prefix: virtualRows, prefixTokenCount: virtualTokens)
        case .lora:
            let norms = AdapterPass(base: base, lora: self).doraNorms
            var deltas = AdapterWeights.noDeltas(config)
            for l in 0..<config.layers {
                for p in Projection.allCases {
                    guard let i = slot(l, p) else { continue }
                    let (outputs, inputs) = p.shape(config)
                    let b = tensors[i + 1].map { $0 * options.scale }
                    let doraScale = norms[i].map { n in (0..<outputs).map { tensors[i + 2][$0] / n[$0] } }
                    deltas[l][p.rawValue] = LowRankDelta(rank: options.rank, inputs: inputs, outputs: outputs, a: tensors[i], b: b,
                                                         doraScale: doraScale)
                }
            }
            return AdapterWeights(deltas: deltas)
        }
    }
}
