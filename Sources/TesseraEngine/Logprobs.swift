import Foundation

enum Logprobs {
    /// log-softmax of `logits` at `token`, and the `top` most likely tokens (ties by lower id).
    static func of(_ logits: ArraySlice<Float>, token: Int32, top: Int) -> (Float, [TokenLogprob]) {
        let base = logits.startIndex
        let m = logits.max() ?? 0
        var sum = 0.0
        for l in logits { sum += exp(Double(l - m)) }
        let logZ = Double(m) + log(sum)
        var best: [(Int32, Float)] = []  // kept sorted, at most `top`
        if top > 0 {
            for i in logits.indices {
                let l = logits[i]
                guard best.count < top || l > best[best.count - 1].1 else { continue }
                let at = best.firstIndex { l > $0.1 } ?? best.count
                best.insert((Int32(i - base), l), at: at)
                if best.count > top { best.removeLast() }
            }
        }
        return (Float(Double(logits[base + Int(token)]) - logZ),
                best.map { TokenLogprob(id: $0.0, logprob: Float(Double($0.1) - logZ)) })
    }
}
