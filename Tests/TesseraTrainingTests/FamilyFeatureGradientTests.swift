import Testing
import TesseraModel
import TesseraTestSupport
import TesseraTraining

/// The trainer's backward through every choice of the decoder description beyond Llama's (q/k norms, sandwich norms,
/// GELU, biases, sliding windows with their own RoPE, scaled and factored RoPE, attention and embedding scales, logit
/// soft-capping), for every adapter kind, against finite differences: a new family is trainable the day it serves
/// because no op is left without its backward.
@Suite struct FamilyFeatureGradientTests {
    static let base = TinyBase(everyFeature: true)

    /// Longer than the sliding window (3), so the window masks something.
    static func batch(_ c: ModelConfig) -> [TrainingExample] {
        var rng = SplitMix(31)
        return [8, 5].map { n in
            let tokens = (0..<n).map { _ in Int32(rng.next() % UInt64(c.vocab)) }
            return TrainingExample(tokens: tokens, weights: (0..<n).map { $0 == 0 ? 0 : 1 })
        }
    }

    enum Kind: String, CaseIterable, Sendable {
        case lora, dora, prompt, prefix
    }

    static func adapter(_ kind: Kind) -> AdapterParameters {
        let c = base.config
        var rng = SplitMix(37)
        var adapter: AdapterParameters
        switch kind {
        case .lora, .dora:
            var options = LoRAOptions()
            options.rank = 2
            options.alpha = 4
            options.dora = kind == .dora
            adapter = AdapterParameters(config: c, options: options, seed: 3)
        case .prompt: adapter = AdapterParameters(config: c, promptEmbeddings: rng.floats(2 * c.hidden))
        case .prefix: adapter = AdapterParameters(config: c, kind: .prefix, virtualTokens: 2, encoderHidden: 0, seed: 5)
        }
        for i in adapter.tensors.indices { adapter.tensors[i] = rng.floats(adapter.tensors[i].count).map { $0 * 0.5 } }
        if kind == .dora {  // magnitudes near the norms, as after PEFT's initialization
            let norms = AdapterPass(base: base.weights, lora: adapter).doraNorms
            for i in norms.keys.sorted() { adapter.tensors[i + 2] = norms[i]!.map { $0 * (1 + 0.2 * rng.float()) } }
        }
        return adapter
    }

    @Test(arguments: Kind.allCases) func everyFeatureHasItsBackward(kind: Kind) {
        let c = Self.base.config
        let adapter = Self.adapter(kind)
        let frozen = kind == .dora ? AdapterPass(base: Self.base.weights, lora: adapter).doraNorms : nil
        let batch = Self.batch(c)
        let normalizer = batch.reduce(0) { $0 + $1.trainedWeight }
        var gradients = adapter.tensors.map { [Float](repeating: 0, count: $0.count) }
        _ = AdapterPass(base: Self.base.weights, lora: adapter, doraNorms: frozen)
            .lossAndGradients(batch, normalizer: normalizer, into: &gradients)
        var rng = SplitMix(41)
        let checked = FiniteDifferences.check(adapter, gradients, rng: &rng, included: { _ in true }) { moved in
            var scratch = moved.tensors.map { [Float](repeating: 0, count: $0.count) }
            return AdapterPass(base: Self.base.weights, lora: moved, doraNorms: frozen)
                .lossAndGradients(batch, normalizer: normalizer, into: &scratch) / normalizer
        }
        #expect(checked == adapter.tensors.count)
    }

    /// The window and the sliding layer's RoPE are really used: the same weights without them give another loss.
    @Test func theDescriptionsChoicesChangeTheLoss() {
        let adapter = Self.adapter(.lora)
        let batch = Self.batch(Self.base.config)
        let loss = AdapterPass(base: Self.base.weights, lora: adapter).loss(batch)
        let w: DecoderWeights = Self.base.weights
        for change in [{ (c: inout ModelConfig) in c.slidingWindow = 0 }, { $0.localRope = $0.rope }, { $0.logitSoftcap = 0 },
                       { $0.embeddingScale = 1 }] {
            var c = w.config
            change(&c)
            let other = DecoderWeights(config: c, embedding: w.embedding, output: w.output, outputNorm: w.outputNorm,
                                       layers: w.layers, owner: w.owner)
            #expect(abs(AdapterPass(base: other, lora: adapter).loss(batch) - loss) > 1e-4)
        }
    }
}
