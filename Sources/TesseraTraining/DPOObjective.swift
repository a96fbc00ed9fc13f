import Foundation
import Synchronization

/// One preference: the same prompt answered two ways, each a sequence whose trained tokens are the answer's (its
/// content and the end-of-turn token), and the reference model's log-likelihoods of the two answers.
public struct PreferencePair: Sendable, Equatable {
    public var chosen: TrainingExample
    public var rejected: TrainingExample
    /// log π_ref(chosen | prompt) and log π_ref(rejected | prompt): sums over the answers' tokens, computed once
    /// before training (`DPOObjective.referenced`).
    public var referenceChosen = 0.0, referenceRejected = 0.0

    public init(chosen: TrainingExample, rejected: TrainingExample) {
        self.chosen = chosen
        self.rejected = rejected
    }
}

/// Direct preference optimization with TRL's sigmoid loss, -log σ(β·((π_c − r_c) − (π_r − r_r))) per pair, mean
/// over the step's pairs; π and r are the policy's and the reference's summed log-likelihoods of each answer.
/// Since d(loss)/d(π_c) = −β·σ(−z), the gradient is that of an NLL whose chosen tokens weigh β·σ(−z) and whose
/// rejected tokens weigh −β·σ(−z): one forward pass per micro-batch, the head's backward with those weights.
public struct DPOObjective: TrainingObjective {
    public let beta: Double

    public init(beta: Double) { self.beta = beta }

    /// `pairs` with their reference log-likelihoods under `reference` (the base with the adapter off, or the
    /// starting adapter), computed in batches of `batchSize` pairs.
    public static func referenced(_ pairs: [PreferencePair], reference: AdapterPass, batchSize: Int, threads: Int) -> [PreferencePair] {
        var out = pairs
        for start in stride(from: 0, to: pairs.count, by: max(1, batchSize)) {
            let part = start..<min(start + max(1, batchSize), pairs.count)
            let nlls = reference.sequenceNLLs(units: part.map { [pairs[$0].chosen, pairs[$0].rejected] }, threads: threads)
            for (i, p) in part.enumerated() {
                out[p].referenceChosen = -nlls[i][0]
                out[p].referenceRejected = -nlls[i][1]
            }
        }
        return out
    }

    /// A pair's loss, its derivative by z, and TRL's rewards, from the policy's NLLs of its two answers.
    func terms(_ pair: PreferencePair, chosenNLL: Double, rejectedNLL: Double) -> (loss: Double, dz: Double, metrics: [String: Double]) {
        let rewardChosen = beta * (-chosenNLL - pair.referenceChosen)
        let rewardRejected = beta * (-rejectedNLL - pair.referenceRejected)
        let z = rewardChosen - rewardRejected
        let loss = Elementwise.negativeLogSigmoid(z)
        let dz = -1 / (1 + exp(z))  // d(-log σ(z))/dz = -σ(-z)
        return (loss, dz, ["rewards_chosen": rewardChosen, "rewards_rejected": rewardRejected,
                           "rewards_margin": z, "rewards_accuracy": rewardChosen > rewardRejected ? 1 : 0])
    }

    public func normalizer(_ step: [PreferencePair]) -> Double { Double(step.count) }

    public func tokens(_ item: PreferencePair) -> Int { item.chosen.tokens.count + item.rejected.tokens.count }

    public func accumulate(_ micro: [PreferencePair], pass: AdapterPass, normalizer: Double, into gradients: inout [[Float]],
                           threads: Int) -> (loss: Double, metrics: [String: Double]) {
        let sums = Mutex<(Double, [String: Double])>((0, [:]))
        let beta = beta
        pass.gradients(units: micro.map { [$0.chosen, $0.rejected] }, normalizer: normalizer, into: &gradients,
                       threads: threads) { u, nlls in
            let t = terms(micro[u], chosenNLL: nlls[0], rejectedNLL: nlls[1])
            sums.withLock { s in
                s.0 += t.loss
                s.1.merge(t.metrics, uniquingKeysWith: +)
            }
            // d(loss)/d(NLL_c) = -d(loss)/d(π_c) = -β·dz, and the opposite for the rejected answer.
            return [-beta * t.dz, beta * t.dz]
        }
        return sums.withLock { ($0.0, $0.1) }
    }

    /// Held-out pairs: the loss, and the rewards (`rewards_accuracy`: the share of pairs whose chosen answer gained
    /// more log-likelihood over the reference than the rejected one).
    public func evaluate(_ items: [PreferencePair], pass: AdapterPass, threads: Int) -> (loss: Double, weight: Double, metrics: [String: Double]) {
        let nlls = pass.sequenceNLLs(units: items.map { [$0.chosen, $0.rejected] }, threads: threads)
        var loss = 0.0, metrics: [String: Double] = [:]
        for i in items.indices {
            let t = terms(items[i], chosenNLL: nlls[i][0], rejectedNLL: nlls[i][1])
            loss += t.loss
            metrics.merge(t.metrics, uniquingKeysWith: +)
        }
        return (loss, Double(items.count), metrics)
    }
}
