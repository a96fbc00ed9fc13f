import Foundation
import Testing
import TesseraModel
import TesseraTestSupport
import TesseraTraining

/// DPO's loss and gradients on the tiny random model: backward against finite differences of the loss itself,
/// ln 2 at the start, and a run that learns a preference.
@Suite struct DPOTests {
    static let base = TinyBase()

    /// Pairs sharing a prompt, answers of different lengths; the reference log-likelihoods are the base's.
    static func pairs(_ count: Int = 3, seed: UInt64 = 29) -> [PreferencePair] {
        let c = base.config
        var rng = SplitMix(seed)
        func tokens(_ n: Int) -> [Int32] { (0..<n).map { _ in Int32(rng.next() % UInt64(c.vocab)) } }
        return (0..<count).map { i in
            let prompt = tokens(3 + i)
            func answer(_ n: Int) -> TrainingExample {
                TrainingExample(tokens: prompt + tokens(n), weights: [Float](repeating: 0, count: prompt.count) + [Float](repeating: 1, count: n))
            }
            return PreferencePair(chosen: answer(2 + i % 2), rejected: answer(3))
        }
    }

    static func trainer(_ lora: AdapterParameters) -> Trainer {
        var settings = Trainer.Settings()
        settings.precision = .fp32
        return Trainer(base: base.weights, lora: lora, settings: settings)
    }

    /// The mean DPO loss of `pairs` under `lora`.
    static func loss(_ lora: AdapterParameters, _ pairs: [PreferencePair], beta: Double) -> Double {
        let pass = AdapterPass(base: base.weights, lora: lora, precision: .fp32)
        let (sum, weight, _) = DPOObjective(beta: beta).evaluate(pairs, pass: pass, threads: 2)
        return sum / weight
    }

    static func check(_ lora: AdapterParameters, beta: Double) {
        let pairs = trainer(lora).referenced(Self.pairs())
        var gradients = lora.tensors.map { [Float](repeating: 0, count: $0.count) }
        let pass = AdapterPass(base: base.weights, lora: lora, precision: .fp32)
        // Two threads: the pairs run as groups side by side, each pair kept whole.
        _ = DPOObjective(beta: beta).accumulate(pairs, pass: pass, normalizer: Double(pairs.count), into: &gradients, threads: 2)
        var rng = SplitMix(31)
        let checked = FiniteDifferences.check(lora, gradients, rng: &rng, included: { lora.kind != .lora || $0.contains("layers.0.") }) {
            loss($0, pairs, beta: beta)
        }
        #expect(checked > 0)
    }

    /// LoRA moved away from the reference (B random), so σ(−z) differs per pair and both answers' weights matter.
    @Test func loraGradientsMatchFiniteDifferences() {
        var options = LoRAOptions()
        options.rank = 2
        options.alpha = 4
        var lora = AdapterParameters(config: Self.base.config, options: options, seed: 3)
        var rng = SplitMix(37)
        for i in lora.tensors.indices { lora.tensors[i] = rng.floats(lora.tensors[i].count).map { $0 * 0.5 } }
        Self.check(lora, beta: 0.5)
    }

    /// Prompt tuning against the base without virtual tokens as the reference.
    @Test func promptGradientsMatchFiniteDifferences() {
        var rng = SplitMix(41)
        Self.check(AdapterParameters(config: Self.base.config, promptEmbeddings: rng.floats(2 * Self.base.config.hidden)), beta: 0.3)
    }

    /// A fresh LoRA (B = 0) is the reference: every margin is 0 and the loss ln 2, at any beta.
    @Test func aFreshLoRAStartsAtLn2() throws {
        let lora = AdapterParameters(config: Self.base.config, options: LoRAOptions(), seed: 5)
        var settings = Trainer.Settings()
        settings.precision = .fp32
        // The step's pairs are the reference's batch, grouped alike: the same products, the same bits (a step of
        // eight would repeat them in other groups, whose products OpenBLAS may round differently).
        settings.batchSize = 4
        var trainer = Trainer(base: Self.base.weights, lora: lora, settings: settings)
        var first: (Double, [String: Double])?
        try trainer.train(DPOObjective(beta: 0.1), trainer.referenced(Self.pairs(4)), events: {
            if case let .step(step, _, loss, _, _, _, _, metrics) = $0, step == 1 { first = (loss, metrics) }
        })
        let (loss, metrics) = try #require(first)
        #expect(abs(loss - log(2)) < 1e-6)
        #expect(abs(metrics["rewards_margin"]!) < 1e-6 && metrics["rewards_accuracy"] == 0)
        #expect(Set(metrics.keys) == ["rewards_chosen", "rewards_rejected", "rewards_margin", "rewards_accuracy"])
    }

    /// Training raises every pair's margin: the policy ranks the chosen answers above the rejected ones.
    @Test func trainingLearnsThePreferences() throws {
        var options = LoRAOptions()
        options.rank = 4
        var settings = Trainer.Settings()
        settings.precision = .fp32
        settings.batchSize = 4
        settings.maxSteps = 30
        settings.learningRate = 5e-2
        settings.schedule = .constant
        settings.warmupRatio = 0
        var trainer = Trainer(base: Self.base.weights, lora: AdapterParameters(config: Self.base.config, options: options, seed: 5),
                              settings: settings)
        let pairs = trainer.referenced(Self.pairs(4))
        var losses: [Double] = [], accuracy = 0.0, validated: [String: Double] = [:]
        try trainer.train(DPOObjective(beta: 0.5), pairs, validation: pairs, events: {
            if case let .step(_, _, loss, _, _, _, _, metrics) = $0 {
                losses.append(loss)
                accuracy = metrics["rewards_accuracy"]!
            }
            if case let .validation(_, _, metrics) = $0 { validated = metrics }
        })
        #expect(losses.last! < 0.3 * losses.first!, "\(losses)")
        #expect(accuracy == 1)
        #expect(validated["rewards_accuracy"] == 1 && validated["rewards_margin"]! > 0, "held-out figures are reported")
    }
}
