import Testing
import TesseraModel
import TesseraTestSupport
import TesseraTraining

/// Backward against central finite differences on a tiny random model (DESIGN 5: gradients are checked twice).
/// Each check moves one tensor of layer 0's adapter along a random direction: its gradient has come back through
/// every op of both layers (head, norms, SwiGLU, attention, RoPE, residuals), so a wrong backward anywhere shows.
@Suite struct GradientCheckTests {
    static let base = TinyBase()

    static func batch(_ c: ModelConfig) -> [TrainingExample] {
        var rng = SplitMix(7)
        return [7, 5, 1].map { n in
            let tokens = (0..<n).map { _ in Int32(rng.next() % UInt64(c.vocab)) }
            let weights = (0..<n).map { j -> Float in [0, 1, 0.5][Int(rng.next() % 3)] * (j == 0 ? 0 : 1) }
            return TrainingExample(tokens: tokens, weights: weights)
        }
    }

    /// An adapter with every tensor random (B too, or A's gradients would be zero).
    static func randomLoRA(_ c: ModelConfig, _ options: LoRAOptions) -> AdapterParameters {
        var lora = AdapterParameters(config: c, options: options, seed: 3)
        var rng = SplitMix(11)
        for i in lora.tensors.indices { lora.tensors[i] = rng.floats(lora.tensors[i].count).map { $0 * 0.5 } }
        return lora
    }

    /// The objective with the dropout masks of seed 17 (fixed, so finite differences see the same function).
    static func objective(_ lora: AdapterParameters, _ batch: [TrainingExample], _ normalizer: Double,
                          doraNorms: [Int: [Float]]? = nil) -> Double {
        var scratch = lora.tensors.map { [Float](repeating: 0, count: $0.count) }
        return AdapterPass(base: base.weights, lora: lora, dropoutSeed: 17, doraNorms: doraNorms)
            .lossAndGradients(batch, normalizer: normalizer, into: &scratch) / normalizer
    }

    /// The objective's derivative along `direction` in tensor `i` (`FiniteDifferences.derivative`).
    static func derivative(_ lora: AdapterParameters, tensor i: Int, along direction: [Float], _ batch: [TrainingExample],
                           _ normalizer: Double, doraNorms: [Int: [Float]]? = nil) -> Double {
        FiniteDifferences.derivative(lora, tensor: i, along: direction) { objective($0, batch, normalizer, doraNorms: doraNorms) }
    }

    /// Plain LoRA, rsLoRA, LoRA with dropout on its input, and DoRA (its norm a constant, as in PEFT: the check
    /// holds the norms of the unmoved adapter fixed).
    @Test(arguments: [(false, Float(0), false), (true, 0, false), (false, 0.3, false), (false, 0, true)])
    func loraGradientsMatchFiniteDifferences(rsLoRA: Bool, dropout: Float, dora: Bool) {
        let c = Self.base.config
        var options = LoRAOptions()
        options.rank = 3
        options.alpha = 6
        options.rsLoRA = rsLoRA
        options.dropout = dropout
        options.dora = dora
        var lora = Self.randomLoRA(c, options)
        if dora {  // magnitudes near the norms, as after PEFT's initialization
            var rng = SplitMix(19)
            let norms = AdapterPass(base: Self.base.weights, lora: lora).doraNorms
            for i in norms.keys.sorted() { lora.tensors[i + 2] = norms[i]!.map { $0 * (1 + 0.2 * rng.float()) } }  // in a fixed order
        }
        let frozen = dora ? AdapterPass(base: Self.base.weights, lora: lora).doraNorms : nil
        let batch = Self.batch(c)
        let normalizer = batch.reduce(0) { $0 + $1.trainedWeight }
        var gradients = lora.tensors.map { [Float](repeating: 0, count: $0.count) }
        _ = AdapterPass(base: Self.base.weights, lora: lora, dropoutSeed: 17)
            .lossAndGradients(batch, normalizer: normalizer, into: &gradients)
        #expect(gradients.count == lora.names.count)
        if dropout > 0 {  // the masks are really applied
            var plain = options
            plain.dropout = 0
            var undropped = AdapterParameters(config: c, options: plain, seed: 3)
            undropped.tensors = lora.tensors
            #expect(abs(Self.objective(undropped, batch, normalizer) - Self.objective(lora, batch, normalizer)) > 1e-3)
        }
        var rng = SplitMix(5)
        let names = lora.names
        for i in lora.tensors.indices where names[i].name.contains("layers.0.") || names[i].name.contains("layers.1.mlp.down") {
            let direction = rng.floats(lora.tensors[i].count)
            let analytic = zip(gradients[i], direction).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let numeric = Self.derivative(lora, tensor: i, along: direction, batch, normalizer, doraNorms: frozen)
            #expect(abs(analytic - numeric) <= 1e-3 + 3e-3 * abs(numeric), "\(names[i].name): backward \(analytic), finite differences \(numeric)")
        }
    }

    /// Prompt tuning: the gradient of the virtual tokens is what reaches the inputs, through every layer.
    @Test func promptEmbeddingGradientsMatchFiniteDifferences() {
        let c = Self.base.config
        var rng = SplitMix(13)
        let lora = AdapterParameters(config: c, promptEmbeddings: rng.floats(3 * c.hidden))
        let batch = Self.batch(c)
        let normalizer = batch.reduce(0) { $0 + $1.trainedWeight }
        var gradients = [[Float](repeating: 0, count: 3 * c.hidden)]
        _ = AdapterPass(base: Self.base.weights, lora: lora, dropoutSeed: 17)
            .lossAndGradients(batch, normalizer: normalizer, into: &gradients)
        for _ in 0..<3 {
            let direction = rng.floats(3 * c.hidden)
            let analytic = zip(gradients[0], direction).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let numeric = Self.derivative(lora, tensor: 0, along: direction, batch, normalizer)
            #expect(abs(analytic - numeric) <= 1e-3 + 3e-3 * abs(numeric), "backward \(analytic), finite differences \(numeric)")
        }
    }

    /// P-tuning through its MLP, prefix tuning's keys and values (attended to before every sequence, in every layer)
    /// and prefix tuning through its projection: every trainable tensor, embedding and encoder layers alike.
    @Test(arguments: [(AdapterParameters.Kind.pTuning, 5), (.prefix, 0), (.prefix, 4)])
    func virtualTokenGradientsMatchFiniteDifferences(kind: AdapterParameters.Kind, encoderHidden: Int) {
        let c = Self.base.config
        var adapter = AdapterParameters(config: c, kind: kind, virtualTokens: 2, encoderHidden: encoderHidden, seed: 21)
        var rng = SplitMix(23)
        for i in adapter.tensors.indices { adapter.tensors[i] = rng.floats(adapter.tensors[i].count) }
        let batch = Self.batch(c)
        let normalizer = batch.reduce(0) { $0 + $1.trainedWeight }
        var gradients = adapter.tensors.map { [Float](repeating: 0, count: $0.count) }
        _ = AdapterPass(base: Self.base.weights, lora: adapter).lossAndGradients(batch, normalizer: normalizer, into: &gradients)
        for (i, name) in adapter.names.enumerated() {
            let direction = rng.floats(adapter.tensors[i].count)
            let analytic = zip(gradients[i], direction).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let numeric = Self.derivative(adapter, tensor: i, along: direction, batch, normalizer)
            #expect(abs(numeric) > 1e-4, "\(name) moves the loss")
            #expect(abs(analytic - numeric) <= 1e-3 + 3e-3 * abs(numeric), "\(name): backward \(analytic), finite differences \(numeric)")
        }
    }

    /// Sequences longer than an attention block (64 query rows), with and without prefix entries: the blocks'
    /// products and their causal limits join up.
    @Test(arguments: [AdapterParameters.Kind.lora, .prefix]) func longSequencesMatchFiniteDifferences(kind: AdapterParameters.Kind) {
        let c = Self.base.config
        var rng = SplitMix(29)
        var adapter: AdapterParameters
        if kind == .lora {
            var options = LoRAOptions()
            options.rank = 2
            options.alpha = 2  // scale 1: a smooth objective for finite differences
            options.targets = [.q, .k, .v]
            adapter = Self.randomLoRA(c, options)
        } else {
            adapter = AdapterParameters(config: c, kind: .prefix, virtualTokens: 3, encoderHidden: 0, seed: 1)
            adapter.tensors[0] = rng.floats(adapter.tensors[0].count)
        }
        let batch = [150, 70].map { n in
            TrainingExample(tokens: (0..<n).map { _ in Int32(rng.next() % UInt64(c.vocab)) },
                            weights: (0..<n).map { $0 == 0 ? 0 : 1 })
        }
        let normalizer = batch.reduce(0) { $0 + $1.trainedWeight }
        var gradients = adapter.tensors.map { [Float](repeating: 0, count: $0.count) }
        _ = AdapterPass(base: Self.base.weights, lora: adapter).lossAndGradients(batch, normalizer: normalizer, into: &gradients)
        for (i, name) in adapter.names.enumerated() where name.name.contains("layers.0.") || kind == .prefix {
            let direction = rng.floats(adapter.tensors[i].count)
            let analytic = zip(gradients[i], direction).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let numeric = Self.derivative(adapter, tensor: i, along: direction, batch, normalizer)
            #expect(abs(analytic - numeric) <= 1e-3 + 3e-3 * abs(numeric), "\(name.name): backward \(analytic), finite differences \(numeric)")
        }
    }

    /// Recomputing layers in backward (gradient checkpointing) gives exactly the gradients of keeping them.
    @Test func checkpointingChangesNothing() {
        let c = Self.base.config
        var options = LoRAOptions()
        options.rank = 2
        let lora = Self.randomLoRA(c, options)
        let batch = Self.batch(c)
        var kept = lora.tensors.map { [Float](repeating: 0, count: $0.count) }, recomputed = kept
        let a = AdapterPass(base: Self.base.weights, lora: lora, gradientCheckpointing: false)
            .lossAndGradients(batch, normalizer: 7, into: &kept)
        let b = AdapterPass(base: Self.base.weights, lora: lora, gradientCheckpointing: true)
            .lossAndGradients(batch, normalizer: 7, into: &recomputed)
        #expect(a == b && kept == recomputed)
    }

    /// The loss is a mean over the trained tokens of the whole step: splitting a batch and summing the parts'
    /// gradients (with the step's normalizer) gives the batch's gradients.
    @Test func accumulationEqualsOneBatch() {
        let c = Self.base.config
        var options = LoRAOptions()
        options.rank = 2
        let lora = Self.randomLoRA(c, options)
        let batch = Self.batch(c)
        let normalizer = batch.reduce(0) { $0 + $1.trainedWeight }
        let pass = AdapterPass(base: Self.base.weights, lora: lora)
        var whole = lora.tensors.map { [Float](repeating: 0, count: $0.count) }
        let wholeLoss = pass.lossAndGradients(batch, normalizer: normalizer, into: &whole)
        var parts = whole.map { [Float](repeating: 0, count: $0.count) }
        let partLoss = batch.reduce(0.0) { $0 + pass.lossAndGradients([$1], normalizer: normalizer, into: &parts) }
        #expect(abs(wholeLoss - partLoss) < 1e-4 * wholeLoss)
        for (a, b) in zip(whole, parts) {
            for (x, y) in zip(a, b) { #expect(abs(x - y) <= 1e-5 + 1e-4 * abs(x)) }
        }
    }
}
