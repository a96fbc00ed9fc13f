import Foundation
import Synchronization
import TesseraEngine
import TesseraKernels
import TesseraModel

/// RLHF's item: a prompt and, once its step has rolled out, one sampled answer with what the loss needs of it.
public struct RLItem: Sendable {
    public var prompt: [Int32]
    public var rollout: Rollout?

    public init(prompt: [Int32]) { self.prompt = prompt }

    public struct Rollout: Sendable {
        public var answer: [Int32]
        public var reward: Double
        public var advantage: Double
        /// log π of each answer token under the policy that sampled it, and under the reference.
        public var old: [Double]
        public var reference: [Double]
        /// PPO: each token's advantage (GAE), the value head's values as it sampled, and the returns they aim at.
        public var advantages: [Double]?
        public var values: [Double]?
        public var returns: [Double]?

        public init(answer: [Int32], reward: Double, advantage: Double, old: [Double], reference: [Double]) {
            self.answer = answer
            self.reward = reward
            self.advantage = advantage
            self.old = old
            self.reference = reference
        }

        /// The sequence's KL to the reference, Σ log π_old − log π_ref over its tokens (the sampled estimate).
        public var kl: Double { zip(old, reference).reduce(0) { $0 + $1.0 - $1.1 } }
    }

    /// The prompt then the answer, the answer trained.
    public var sequence: TrainingExample { DistillationRow.sequence(prompt, rollout?.answer ?? []) }
}

/// Online RL on prompts (TRL's GRPO and RLOO trainers' losses): every step samples `generations` answers per prompt
/// from the policy as it is, through the batched engine; the reward function scores them; the policy is pushed
/// along each answer's advantage with PPO's clipped ratio, for `iterations` optimizer steps on the same rollouts.
/// GRPO: advantage = (r − mean of its group) / (std of its group), and β · KL to the reference (the k3 estimate,
/// exp(ref − π) − (ref − π) − 1, per token) in the loss. RLOO: the KL in the reward, r − β · KL(sequence), and the
/// advantage is that minus the mean of the group's other answers. PPO (the adapter has a value head): the KL in
/// each token's reward, −β (log π_old − log π_ref), the reward at the answer's last token, advantages by GAE (γ 1,
/// λ 0.95) whitened over the batch, and the value head trained toward the returns (clipped, coefficient 0.1). The
/// loss is a mean over the step's answer tokens.
public struct RLObjective: TrainingObjective {
    public enum Algorithm: String, Sendable, CaseIterable { case ppo, grpo, rloo }

    public struct Settings: Sendable {
        public var algorithm = Algorithm.grpo
        public var generations = 4
        public var klCoefficient = 0.05
        /// Adapt β after each batch of rollouts toward this KL per answer (the PPO paper's adaptive penalty: ×2 past
        /// 1.5 × the target, ÷2 under target / 1.5); nil: β stays.
        public var klTarget: Double?
        public var clip = 0.2
        /// Optimizer steps per batch of rollouts (PPO's epochs; GRPO's iterations).
        public var iterations = 1
        public var sampling = SamplingParameters()
        /// Answers stop where prompt + answer reach this.
        public var maxLength = 1024

        public init() {}
    }

    public let settings: Settings
    public let generator: BatchGenerator
    public let reference: AdapterPass
    public let reward: any RewardFunction
    public let base: DecoderWeights
    private let cache: Cache

    /// The rollouts of the step that sampled them, for the iterations after it, and β as the controller has it.
    private final class Cache: Sendable {
        let value = Mutex<(step: Int, items: [RLItem])?>(nil)
        let beta: Mutex<Double>

        init(beta: Double) { self.beta = Mutex(beta) }
    }

    /// The KL coefficient now.
    public var klCoefficient: Double { cache.beta.withLock { $0 } }

    public init(settings: Settings, generator: BatchGenerator, reference: AdapterPass, reward: any RewardFunction, base: DecoderWeights) {
        precondition(settings.algorithm != .rloo || settings.generations > 1, "RLOO needs two answers per prompt")
        self.settings = settings
        self.generator = generator
        self.reference = reference
        self.reward = reward
        self.base = base
        cache = Cache(beta: settings.klCoefficient)
    }

    /// The step's prompts, `generations` answers each, sampled and scored (or the rollouts of the step that did,
    /// for the iterations after it).
    public func prepare(_ items: [RLItem], lora: AdapterParameters, step: Int) throws -> [RLItem] {
        let first = step - step % max(1, settings.iterations)
        if let cached = cache.value.withLock({ $0 }), cached.step == first { return cached.items }
        let rolled = try rollouts(items.map(\.prompt), lora: lora, step: first, generations: settings.generations, adapt: true)
        cache.value.withLock { $0 = (first, rolled) }
        return rolled
    }

    /// Each prompt answered `generations` times by the policy `lora`, scored, with its log-probabilities and
    /// advantages.
    func rollouts(_ prompts: [[Int32]], lora: AdapterParameters, step: Int, generations: Int, adapt: Bool = false) throws -> [RLItem] {
        let repeated = prompts.flatMap { Array(repeating: $0, count: generations) }
        let parameters = BatchGenerator.parameters(settings.sampling, contexts: repeated.map(\.count), maxLength: settings.maxLength,
                                                   salt: step)
        let answers: [BatchGenerator.Answer]
        do { answers = try generator.generate(repeated, adapter: lora.servingWeights(base: base), parameters: parameters) } catch {
            throw TrainingFailure("rollouts at step \(step + 1): \(error)")
        }
        let rewards = try reward.rewards(prompts: repeated, answers: answers.map(\.tokens))
        let sequences = zip(repeated, answers).map { DistillationRow.sequence($0, $1.tokens) }
        let policy = AdapterPass(base: base, lora: lora, precision: reference.precision, pool: reference.pool)
        let (old, values) = policy.tokenLogprobsAndValues(sequences, threads: reference.pool.threads)
        let ref = reference.tokenLogprobs(sequences, threads: reference.pool.threads)
        var items = repeated.indices.map { i in
            var item = RLItem(prompt: repeated[i])
            item.rollout = .init(answer: answers[i].tokens, reward: rewards[i], advantage: 0, old: old[i], reference: ref[i])
            return item
        }
        let kl = items.map { $0.rollout!.kl }
        if adapt, let target = settings.klTarget {
            // The PPO paper's adaptive penalty: double β past 1.5 × the target, halve it under target / 1.5.
            let mean = kl.reduce(0, +) / Double(kl.count)
            cache.beta.withLock { $0 *= mean > 1.5 * target ? 2 : mean < target / 1.5 ? 0.5 : 1 }
        }
        let advantages = Self.advantages(rewards: rewards, kl: kl, generations: generations,
                                         algorithm: settings.algorithm, klCoefficient: klCoefficient)
        for i in items.indices { items[i].rollout!.advantage = advantages[i] }
        if settings.algorithm == .ppo, let values { ppo(&items, values: values) }
        return items
    }

    /// PPO's per-token rewards, GAE advantages (whitened over the batch) and returns, from the values as sampled.
    func ppo(_ items: inout [RLItem], values: [[Double]]) {
        let gamma = 1.0, lambda = 0.95, beta = klCoefficient
        var raw: [[Double]] = []
        for (i, item) in items.enumerated() {
            let r = item.rollout!, n = r.answer.count, v = values[i]
            var rewards = (0..<n).map { -beta * (r.old[$0] - r.reference[$0]) }
            rewards[n - 1] += r.reward
            var advantages = [Double](repeating: 0, count: n), running = 0.0
            for t in (0..<n).reversed() {
                let next = t + 1 < n ? v[t + 1] : 0
                running = rewards[t] + gamma * next - v[t] + gamma * lambda * running
                advantages[t] = running
            }
            raw.append(advantages)
            items[i].rollout!.values = v
            items[i].rollout!.returns = zip(advantages, v).map { $0 + $1 }
        }
        let all = raw.joined(), count = Double(all.count)
        let mean = all.reduce(0, +) / count
        let std = (all.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / max(count - 1, 1)).squareRoot()
        for i in items.indices { items[i].rollout!.advantages = raw[i].map { ($0 - mean) / (std + 1e-8) } }
    }

    /// Each answer's advantage, the answers in groups of `generations` per prompt. GRPO: (r − the group's mean) /
    /// (its standard deviation + 1e-4); RLOO: r − β · KL, less the mean of the group's other answers' (0 alone).
    public static func advantages(rewards: [Double], kl: [Double], generations: Int, algorithm: Algorithm,
                                  klCoefficient: Double) -> [Double] {
        var out = [Double](repeating: 0, count: rewards.count)
        for g in stride(from: 0, to: rewards.count, by: generations) {
            let group = g..<min(g + generations, rewards.count), n = Double(group.count)
            switch algorithm {
            case .grpo:
                let mean = group.reduce(0) { $0 + rewards[$1] } / n
                let std = n > 1 ? (group.reduce(0) { $0 + (rewards[$1] - mean) * (rewards[$1] - mean) } / (n - 1)).squareRoot() : 0
                for i in group { out[i] = (rewards[i] - mean) / (std + 1e-4) }
            case .rloo:
                guard n > 1 else { continue }
                let shaped = group.map { rewards[$0] - klCoefficient * kl[$0] }, total = shaped.reduce(0, +)
                for (j, i) in group.enumerated() { out[i] = shaped[j] - (total - shaped[j]) / (n - 1) }
            case .ppo: continue  // per token, from the values (`ppo`)
            }
        }
        return out
    }

    public func normalizer(_ step: [RLItem]) -> Double { step.reduce(0) { $0 + Double($1.rollout?.answer.count ?? 0) } }

    public func tokens(_ item: RLItem) -> Int { item.prompt.count + (item.rollout?.answer.count ?? 0) }

    public func accumulate(_ micro: [RLItem], pass: AdapterPass, normalizer: Double, into gradients: inout [[Float]],
                           threads: Int) -> (loss: Double, metrics: [String: Double]) {
        let beta = klCoefficient
        var (loss, metrics) = PolicyGradientLoss(clip: settings.clip, klCoefficient: settings.algorithm == .grpo ? beta : 0,
                                                 valueCoefficient: settings.algorithm == .ppo ? 0.1 : 0)
            .accumulate(micro, pass: pass, normalizer: normalizer, into: &gradients, threads: threads)
        metrics["kl_coef"] = beta * Double(micro.count)  // a sum over the items, as the loop expects
        return (loss, metrics)
    }

    /// Held-out prompts: one answer each from the policy as it is (sampled with the run's seed), its mean reward and
    /// KL to the reference; the loss is the negative mean reward.
    public func evaluate(_ items: [RLItem], pass: AdapterPass, threads: Int) throws -> (loss: Double, weight: Double, metrics: [String: Double]) {
        let rolled = try rollouts(items.map(\.prompt), lora: pass.lora, step: -1, generations: 1)
        let reward = rolled.reduce(0) { $0 + $1.rollout!.reward }, kl = rolled.reduce(0) { $0 + $1.rollout!.kl }
        return (-reward, Double(items.count), ["reward": reward, "kl": kl])
    }
}

/// PPO's clipped surrogate on rollouts, per answer token: −min(ρA, clip(ρ, 1 ± ε)A) + β · k3(π, ref), ρ the ratio
/// of the policy to the one that sampled, summed for the step's normalizer. Metrics (sums over the rollouts):
/// `reward`, `kl` (Σ log π_old − log π_ref over the answer), `entropy` and `clip_fraction` (means over its tokens).
public struct PolicyGradientLoss: Sendable {
    public let clip: Double
    /// β of the KL in the loss (GRPO's; 0 when the KL is in the reward, as RLOO and PPO have it).
    public let klCoefficient: Double
    /// PPO's value loss, c · ½ max((V − R)², (clip(V, V_old ± clip) − R)²) per token (0: no value head).
    public let valueCoefficient: Double

    public init(clip: Double, klCoefficient: Double, valueCoefficient: Double = 0) {
        self.clip = clip
        self.klCoefficient = klCoefficient
        self.valueCoefficient = valueCoefficient
    }

    public func accumulate(_ micro: [RLItem], pass: AdapterPass, normalizer: Double, into gradients: inout [[Float]],
                           threads: Int) -> (loss: Double, metrics: [String: Double]) {
        let counts = Mutex<[Int: (entropy: Double, clipped: Double)]>([:]), valueLosses = ValueLosses()
        let clip = clip, beta = klCoefficient
        var loss = pass.lossAndGradients(micro.map(\.sequence), normalizer: normalizer, into: &gradients, threads: threads,
                                         positionLoss: { p, row, vocab, scale in
            let r = micro[p.sequence].rollout!
            let z = Double(row[Int(p.token)])
            let entropy = PolicyGradientLoss.entropy(row, vocab)
            // row = g · scale · (p − onehot) below needs the softmax: logSoftmaxRow writes it (times the scale).
            let a = r.advantages?[p.index] ?? r.advantage, old = r.old[p.index], ref = r.reference[p.index]
            let lse = Kernels.logSoftmaxRow(row, count: vocab, scale: 1)
            let lp = z - lse, ratio = exp(lp - old)
            let clipped = (a >= 0 && ratio > 1 + clip) || (a < 0 && ratio < 1 - clip)
            let surrogate = -min(ratio * a, min(max(ratio, 1 - clip), 1 + clip) * a)
            let k3 = exp(ref - lp) - (ref - lp) - 1
            // d(loss)/d(log π): the unclipped surrogate's −A·ρ, and the KL's β(1 − exp(ref − π)).
            let g = (clipped ? 0 : -a * ratio) + beta * (1 - exp(ref - lp))
            if let scale {
                // d(loss)/dz = g · (onehot − p) = −g · (p − onehot)
                let f = Float(-g * Double(scale))
                for j in 0..<vocab { row[j] *= f }
                row[Int(p.token)] -= f
            }
            let n = Double(r.answer.count)
            counts.withLock { c in
                var e = c[p.sequence] ?? (0, 0)
                e.entropy += entropy / n
                e.clipped += clipped ? 1 / n : 0
                c[p.sequence] = e
            }
            return Double(p.weight) * (surrogate + beta * k3)
        }, valueLoss: valueLoss(micro, counts: valueLosses))
        let values = valueLosses.value.withLock { v in micro.indices.reduce(0) { $0 + (v[$1] ?? 0) } }  // in order: the same sum every run
        loss += values
        return counts.withLock { c in
            var metrics = ["reward": 0.0, "kl": 0, "entropy": 0, "clip_fraction": 0]
            if valueCoefficient > 0 { metrics["value_loss"] = values }
            for (i, item) in micro.enumerated() {
                metrics["reward"]! += item.rollout!.reward
                metrics["kl"]! += item.rollout!.kl
                metrics["entropy"]! += c[i]?.entropy ?? 0
                metrics["clip_fraction"]! += c[i]?.clipped ?? 0
            }
            return (loss, metrics)
        }
    }

    /// Each rollout's value loss so far, by its index in the micro-batch.
    final class ValueLosses: Sendable {
        let value = Mutex<[Int: Double]>([:])
    }

    /// PPO's value loss and its derivative at each position, summed into `counts` (nil without a value head).
    func valueLoss(_ micro: [RLItem], counts: ValueLosses) -> AdapterPass.ValueLoss? {
        guard valueCoefficient > 0 else { return nil }
        let c = valueCoefficient, clip = clip
        return { p, v in
            let r = micro[p.sequence].rollout!
            guard let returns = r.returns, let old = r.values else { return 0 }
            let target = returns[p.index], start = old[p.index]
            let clipped = min(max(v, start - clip), start + clip)
            let plain = (v - target) * (v - target), far = (clipped - target) * (clipped - target)
            counts.value.withLock { $0[p.sequence, default: 0] += Double(p.weight) * c * 0.5 * max(plain, far) }
            // d/dV of ½ max(...): the larger term's; the clipped one's is 0 where the clip holds V.
            if plain >= far { return Double(p.weight) * c * (v - target) }
            return clipped == v ? Double(p.weight) * c * (clipped - target) : 0
        }
    }

    /// −Σ p log p of softmax(row), the row unchanged.
    static func entropy(_ row: UnsafeMutablePointer<Float>, _ vocab: Int) -> Double {
        var m = -Float.infinity
        for j in 0..<vocab { m = max(m, row[j]) }
        var sum = 0.0, weighted = 0.0
        for j in 0..<vocab {
            let e = exp(Double(row[j] - m))
            sum += e
            weighted += e * Double(row[j] - m)
        }
        return log(sum) - weighted / sum
    }

}

extension AdapterPass {
    /// log π of each trained token of each sequence and, with a value head, the value there (nil without one).
    public func tokenLogprobsAndValues(_ batch: [TrainingExample], threads: Int) -> ([[Double]], [[Double]]?) {
        let found = PositionTable(), valued = PositionTable()
        var none: [[Float]] = []
        var values: ValueLoss?
        if lora.hasValueHead {
            values = { p, v in
                valued.set(p, v)
                return 0
            }
        }
        _ = lossAndGradients(batch, normalizer: nil, into: &none, threads: threads, positionLoss: { p, row, vocab, _ in
            let z = Double(row[Int(p.token)])
            found.set(p, z - Kernels.logSoftmaxRow(row, count: vocab, scale: 0))
            return 0
        }, valueLoss: values)
        return (found.table(batch), lora.hasValueHead ? valued.table(batch) : nil)
    }

    /// log π of each trained token of each sequence, in order: the forward pass alone.
    public func tokenLogprobs(_ batch: [TrainingExample], threads: Int) -> [[Double]] { tokenLogprobsAndValues(batch, threads: threads).0 }
}

/// A number per trained position, filled from the passes' threads.
final class PositionTable: Sendable {
    private let value = Mutex<[Int: [Int: Double]]>([:])

    func set(_ p: AdapterPass.Position, _ x: Double) { value.withLock { $0[p.sequence, default: [:]][p.index] = x } }

    /// By sequence, then position in order (0 where none was set).
    func table(_ batch: [TrainingExample]) -> [[Double]] {
        value.withLock { f in batch.indices.map { i in (0..<batch[i].trainedTokens).map { f[i]?[$0] ?? 0 } } }
    }
}
