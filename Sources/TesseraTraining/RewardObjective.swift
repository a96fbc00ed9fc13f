import Foundation
import Synchronization

/// A reward model (an adapter with a score head, TRL's RewardTrainer): the Bradley–Terry loss
/// −log σ(r_chosen − r_rejected) per preference pair, mean over the step's pairs; r is the score on each answer's
/// last token. Metrics: `accuracy` (the share of pairs scored the right way round) and `margin` (r_c − r_r).
public struct RewardObjective: TrainingObjective {
    public init() {}

    func terms(_ chosen: Double, _ rejected: Double) -> (loss: Double, dz: Double, metrics: [String: Double]) {
        let z = chosen - rejected
        let loss = Elementwise.negativeLogSigmoid(z)
        return (loss, -1 / (1 + exp(z)), ["accuracy": z > 0 ? 1 : 0, "margin": z])
    }

    public func normalizer(_ step: [PreferencePair]) -> Double { Double(step.count) }

    public func tokens(_ item: PreferencePair) -> Int { item.chosen.tokens.count + item.rejected.tokens.count }

    public func accumulate(_ micro: [PreferencePair], pass: AdapterPass, normalizer: Double, into gradients: inout [[Float]],
                           threads: Int) -> (loss: Double, metrics: [String: Double]) {
        precondition(pass.lora.hasScoreHead, "a reward model needs a score head")
        let sums = Mutex<[Int: (Double, [String: Double])]>([:])
        pass.gradients(units: micro.map { [$0.chosen, $0.rejected] }, normalizer: normalizer, into: &gradients,
                       threads: threads) { u, scores in
            let t = terms(scores[0], scores[1])
            sums.withLock { $0[u] = (t.loss, t.metrics) }
            return [t.dz, -t.dz]
        }
        // Summed in the pairs' order: the same figures every run.
        return sums.withLock { s in
            micro.indices.reduce((0.0, [String: Double]())) { acc, u in (acc.0 + s[u]!.0, acc.1.merging(s[u]!.1, uniquingKeysWith: +)) }
        }
    }

    public func evaluate(_ items: [PreferencePair], pass: AdapterPass, threads: Int) -> (loss: Double, weight: Double, metrics: [String: Double]) {
        let scores = pass.sequenceNLLs(units: items.map { [$0.chosen, $0.rejected] }, threads: threads)
        var loss = 0.0, metrics: [String: Double] = [:]
        for s in scores {
            let t = terms(s[0], s[1])
            loss += t.loss
            metrics.merge(t.metrics, uniquingKeysWith: +)
        }
        return (loss, Double(items.count), metrics)
    }
}
