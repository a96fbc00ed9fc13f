import Foundation
import TesseraKernels

/// Knowledge distillation's loss at one position, TRL's GKD divergences over a sparse teacher: the student's
/// distribution p = softmax(z / T) is read on the teacher's k tokens plus one bucket for the rest (q_s), against
/// the teacher's (q_t), and optionally mixed with the cross-entropy of the data's token:
///   loss = weight · (ratio · D(q_t, q_s) + (1 − ratio) · CE(token))
/// D is forward KL(q_t ‖ q_s), reverse KL(q_s ‖ q_t), or the generalized JSD with mixture m = β q_t + (1 − β) q_s,
/// β · KL(q_t ‖ m) + (1 − β) · KL(q_s ‖ m) (TRL's `generalized_jsd_loss`, whose β = 0 and 1 are the two KLs).
/// Like TRL, no T² factor. A position without a teacher is trained on the data's token alone.
public struct DistillationLoss: Sendable, Equatable {
    public enum Divergence: String, Sendable, CaseIterable {
        case forward, reverse, jsd
    }

    public var divergence: Divergence
    public var temperature: Double
    /// The JSD's β (its share of the teacher in the mixture).
    public var jsdBeta: Double
    /// The distillation term's share of the loss; the rest is the data's cross-entropy.
    public var ratio: Double

    public init(divergence: Divergence = .forward, temperature: Double = 1, jsdBeta: Double = 0.5, ratio: Double = 1) {
        self.divergence = divergence
        self.temperature = temperature
        self.jsdBeta = jsdBeta
        self.ratio = ratio
    }

    /// The divergence and its derivatives by the student's k + 1 probabilities, from both distributions.
    func divergence(student qs: [Double], teacher qt: [Double]) -> (value: Double, gradient: [Double]) {
        var value = 0.0, g = [Double](repeating: 0, count: qs.count)
        let tiny = 1e-30
        // TRL's JSD at β = 0 and 1 is the KL it tends to, not the mixture's (which vanishes there).
        let kind = divergence != .jsd ? divergence : jsdBeta == 0 ? .forward : jsdBeta == 1 ? .reverse : .jsd
        switch kind {
        case .forward:
            for i in qs.indices where qt[i] > 0 {
                value += qt[i] * (log(qt[i]) - log(max(qs[i], tiny)))
                g[i] = -qt[i] / max(qs[i], tiny)
            }
        case .reverse:
            for i in qs.indices {
                let d = log(max(qs[i], tiny)) - log(max(qt[i], tiny))
                value += qs[i] * d
                g[i] = d + 1
            }
        case .jsd:
            let b = jsdBeta
            for i in qs.indices {
                let m = b * qt[i] + (1 - b) * qs[i]
                guard m > 0 else { continue }
                if qt[i] > 0 { value += b * qt[i] * log(qt[i] / m) }
                if qs[i] > 0 { value += (1 - b) * qs[i] * log(qs[i] / m) }
                g[i] = (1 - b) * log(max(qs[i], tiny) / m)
            }
        }
        return (value, g)
    }

    /// The position's loss; with `scale`, the row of logits becomes scale × d(loss)/d(logits).
    public func apply(_ row: UnsafeMutablePointer<Float>, vocab: Int, token: Int32, weight: Float,
                      teacher: TeacherDistribution?, scale: Float?) -> Double {
        let tokenLogit = Double(row[Int(token)])
        guard let teacher, ratio > 0 else {
            let g = scale.map { $0 * weight } ?? 0
            let nll = Double(weight) * (Kernels.logSoftmaxRow(row, count: vocab, scale: g) - tokenLogit)
            if g != 0 { row[Int(token)] -= g }
            return nll
        }
        let invT = 1 / temperature
        // The cross-entropy needs softmax(z) itself when T ≠ 1: from a copy of the logits.
        var original: [Float] = []
        if ratio < 1, temperature != 1 { original = Array(UnsafeBufferPointer(start: row, count: vocab)) }
        if temperature != 1 { for j in 0..<vocab { row[j] *= Float(invT) } }
        let lseT = Kernels.logSoftmaxRow(row, count: vocab, scale: 1)  // row = p = softmax(z / T)
        let k = teacher.ids.count
        var qs = teacher.ids.map { Double(row[Int($0)]) }
        // The bucket's mass summed over its own tokens, not 1 − Σ listed: that cancels to noise when the listed
        // tokens hold nearly everything, and the forward KL's gradient divides by it.
        for id in teacher.ids { row[Int(id)] = 0 }
        var tail = 0.0
        for j in 0..<vocab { tail += Double(row[j]) }
        for (i, id) in teacher.ids.enumerated() { row[Int(id)] = Float(qs[i]) }
        qs.append(tail)
        let qt = teacher.probabilities.map(Double.init) + [Double(teacher.rest)]
        let (d, g) = divergence(student: qs, teacher: qt)
        let gBar = zip(qs, g).reduce(0) { $0 + $1.0 * $1.1 }
        var ce = 0.0
        if ratio < 1 {
            // At temperature 1: from the copy of the logits when the row was divided by T.
            ce = (original.isEmpty ? lseT : Self.logSumExp(original)) - tokenLogit
        }
        if let scale {
            let w = Double(scale * weight), kd = w * ratio * invT, other = kd * (g[k] - gBar), lse1 = ce + tokenLogit
            if ratio < 1, !original.isEmpty {
                for j in 0..<vocab {
                    row[j] = Float(other * Double(row[j]) + w * (1 - ratio) * exp(Double(original[j]) - lse1))
                }
            } else {
                // T = 1 or no cross-entropy: p itself is the cross-entropy's softmax.
                let f = Float(other + w * (1 - ratio))
                for j in 0..<vocab { row[j] *= f }
            }
            // The listed tokens' own, not as a correction of the bucket's (which can be large when its mass is tiny).
            for i in 0..<k {
                let j = Int(teacher.ids[i])
                let p1 = ratio == 1 ? 0 : original.isEmpty ? qs[i] : exp(Double(original[j]) - lse1)
                row[j] = Float(kd * qs[i] * (g[i] - gBar) + w * (1 - ratio) * p1)
            }
            if ratio < 1 { row[Int(token)] -= Float(w * (1 - ratio)) }
        }
        return Double(weight) * (ratio * d + (1 - ratio) * ce)
    }

    static func logSumExp(_ x: [Float]) -> Double {
        let m = x.max() ?? 0
        return Double(m) + log(x.reduce(0.0) { $0 + exp(Double($1 - m)) })
    }
}
