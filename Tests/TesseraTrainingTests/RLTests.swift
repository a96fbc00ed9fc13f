import Foundation
import Testing
import TesseraModel
import TesseraTestSupport
import TesseraTraining

/// RLHF's loss on the tiny random model: the clipped surrogate with GRPO's KL term against finite differences, and
/// the two algorithms' advantages.
@Suite struct RLTests {
    static let base = TinyBase()

    static func lora() -> AdapterParameters {
        var options = LoRAOptions()
        options.rank = 2
        options.alpha = 4
        var lora = AdapterParameters(config: base.config, options: options, seed: 3)
        var rng = SplitMix(37)
        for i in lora.tensors.indices { lora.tensors[i] = rng.floats(lora.tensors[i].count).map { $0 * 0.5 } }
        return lora
    }

    /// Rollouts whose sampling policy sits a fixed step away from the current one at each token: inside the clip
    /// range, and past it on either side, so every branch of the surrogate is in the loss.
    static func rollouts(_ lora: AdapterParameters) -> [RLItem] {
        let c = base.config
        var rng = SplitMix(29)
        func tokens(_ n: Int) -> [Int32] { (0..<n).map { _ in Int32(rng.next() % UInt64(c.vocab)) } }
        let prompts = (0..<4).map { tokens(2 + $0) }, answers = (0..<4).map { tokens(3 + $0 % 2) }
        let sequences = zip(prompts, answers).map { p, a in
            TrainingExample(tokens: p + a, weights: [Float](repeating: 0, count: p.count) + [Float](repeating: 1, count: a.count))
        }
        let current = AdapterPass(base: base.weights, lora: lora, precision: .fp32).tokenLogprobs(sequences, threads: 1)
        let offsets = [0.05, -0.05, 0.6, -0.6, 0.1]
        return prompts.indices.map { i in
            var item = RLItem(prompt: prompts[i])
            let old = current[i].enumerated().map { $1 + offsets[(i + $0) % offsets.count] }
            let reference = current[i].map { $0 - 0.3 + 0.1 * Double(i) }
            item.rollout = .init(answer: answers[i], reward: Double(i), advantage: [1.0, -0.7, 0.4, -1.2][i], old: old, reference: reference)
            return item
        }
    }

    static func loss(_ lora: AdapterParameters, _ items: [RLItem], _ l: PolicyGradientLoss) -> Double {
        var scratch = lora.tensors.map { [Float](repeating: 0, count: $0.count) }
        return l.accumulate(items, pass: AdapterPass(base: base.weights, lora: lora, precision: .fp32), normalizer: 1,
                            into: &scratch, threads: 2).loss
    }

    @Test func clippedSurrogateAndKLGradientsMatchFiniteDifferences() {
        let lora = Self.lora(), items = Self.rollouts(lora), l = PolicyGradientLoss(clip: 0.2, klCoefficient: 0.1)
        var gradients = lora.tensors.map { [Float](repeating: 0, count: $0.count) }
        let (_, metrics) = l.accumulate(items, pass: AdapterPass(base: Self.base.weights, lora: lora, precision: .fp32),
                                        normalizer: 1, into: &gradients, threads: 2)
        #expect(metrics["clip_fraction"]! > 0 && metrics["clip_fraction"]! < Double(items.count), "some tokens clipped, not all")
        #expect(metrics["reward"] == 6 && metrics["entropy"]! > 0)
        var rng = SplitMix(31)
        let checked = FiniteDifferences.check(lora, gradients, rng: &rng, step: 2e-3, included: { $0.contains("layers.1.") }) {
            Self.loss($0, items, l)
        }
        #expect(checked > 0)
    }

    /// PPO: per-token advantages and the value head's clipped loss toward the returns, through the head and the LoRA
    /// under it.
    @Test func ppoValueHeadGradientsMatchFiniteDifferences() {
        var lora = Self.lora()
        var rng = SplitMix(47)
        lora.addValueHead(weights: rng.floats(Self.base.config.hidden))
        var items = Self.rollouts(lora)
        let values = AdapterPass(base: Self.base.weights, lora: lora, precision: .fp32)
            .tokenLogprobsAndValues(items.map(\.sequence), threads: 1).1!
        for i in items.indices {
            let n = items[i].rollout!.answer.count
            items[i].rollout!.advantages = (0..<n).map { Double($0) * 0.3 - 0.5 }
            // Old values a little off the current ones, either way past the clip for some tokens.
            items[i].rollout!.values = values[i].enumerated().map { $1 + [0.05, -0.4, 0.3][($0 + i) % 3] }
            items[i].rollout!.returns = values[i].map { $0 + 0.7 }
        }
        let l = PolicyGradientLoss(clip: 0.2, klCoefficient: 0, valueCoefficient: 0.1)
        var gradients = lora.tensors.map { [Float](repeating: 0, count: $0.count) }
        let (_, metrics) = l.accumulate(items, pass: AdapterPass(base: Self.base.weights, lora: lora, precision: .fp32),
                                        normalizer: 1, into: &gradients, threads: 2)
        #expect(metrics["value_loss"]! > 0)
        let checked = FiniteDifferences.check(lora, gradients, rng: &rng, step: 2e-3,
                                              included: { $0.contains("layers.1.self_attn.q_proj") || $0 == AdapterParameters.valueName }) {
            Self.loss($0, items, l)
        }
        #expect(checked == 3, "A and B of one projection, and the value head")
    }

    @Test func advantages() {
        let rewards = [1.0, 2, 3, 5, 5, 5], kl = [0.0, 1, 0, 2, 0, 0]
        let grpo = RLObjective.advantages(rewards: rewards, kl: kl, generations: 3, algorithm: .grpo, klCoefficient: 0.5)
        #expect(abs(grpo[0] + 1) < 1e-3 && abs(grpo[1]) < 1e-9 && abs(grpo[2] - 1) < 1e-3, "(r − mean) / std, std 1")
        #expect(grpo[3...].allSatisfy { $0 == 0 }, "a group of equal rewards teaches nothing")
        let rloo = RLObjective.advantages(rewards: rewards, kl: kl, generations: 3, algorithm: .rloo, klCoefficient: 0.5)
        // shaped 1, 1.5, 3: each less the mean of the other two
        #expect(zip(rloo[0..<3], [1 - 2.25, 1.5 - 2, 3 - 1.25]).allSatisfy { abs($0 - $1) < 1e-9 })
        #expect(abs(rloo[3] - (4 - 5)) < 1e-9 && abs(rloo[4] - (5 - 4.5)) < 1e-9)
    }
}
