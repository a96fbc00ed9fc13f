import Foundation

/// A teacher's next-token distribution at one position, kept sparse: its most likely tokens' probabilities and the
/// mass of all the others as one bucket (`rest`). Distillation compares the student's distribution over the same
/// k + 1 outcomes, which is exact when k covers the vocabulary and keeps a cached teacher at k · 8 bytes a position
/// (the full distribution is 4 · vocab bytes: 192 KiB at SmolLM2's). Teachers given as top-k logprobs in the data
/// (OpenAI's shape) are already this.
public struct TeacherDistribution: Sendable, Equatable {
    /// Distinct token ids.
    public var ids: [Int32]
    /// Their probabilities.
    public var probabilities: [Float]
    /// 1 − Σ probabilities: every other token's mass, positive unless every token is listed.
    public var rest: Float

    /// The floor of `rest`: a teacher never rules out every token it did not list (reverse KL and JSD take its log).
    public static let minimumRest: Float = 1e-6

    public init(ids: [Int32], probabilities: [Float], rest: Float) {
        self.ids = ids
        self.probabilities = probabilities
        self.rest = rest
    }

    /// The `k` most likely tokens of softmax(logits / temperature) and the rest's mass, from a row of logits.
    public static func top(_ k: Int, logits: UnsafePointer<Float>, vocab: Int, temperature: Double) -> TeacherDistribution {
        let invT = 1 / temperature
        var m = -Float.infinity
        for j in 0..<vocab { m = max(m, logits[j]) }
        var sum = 0.0
        for j in 0..<vocab { sum += exp(Double(logits[j] - m) * invT) }
        // A min-heap of the k largest logits seen: most tokens fail the first comparison.
        let k = min(k, vocab)
        var heap: [(Float, Int32)] = []
        heap.reserveCapacity(k)
        func siftDown(_ i0: Int) {
            var i = i0
            while true {
                let l = 2 * i + 1, r = l + 1
                var s = i
                if l < heap.count, heap[l].0 < heap[s].0 { s = l }
                if r < heap.count, heap[r].0 < heap[s].0 { s = r }
                if s == i { return }
                heap.swapAt(i, s)
                i = s
            }
        }
        for j in 0..<vocab {
            let v = logits[j]
            if heap.count < k {
                heap.append((v, Int32(j)))
                var i = heap.count - 1
                while i > 0, heap[(i - 1) / 2].0 > heap[i].0 {
                    heap.swapAt(i, (i - 1) / 2)
                    i = (i - 1) / 2
                }
            } else if v > heap[0].0 {
                heap[0] = (v, Int32(j))
                siftDown(0)
            }
        }
        heap.sort { ($0.0, $1.1) > ($1.0, $0.1) }
        let probabilities = heap.map { Float(exp(Double($0.0 - m) * invT) / sum) }
        let listed = heap.reduce(0.0) { $0 + exp(Double($1.0 - m) * invT) }
        // A teacher that lists every token has no rest.
        return TeacherDistribution(ids: heap.map(\.1), probabilities: probabilities,
                                   rest: k == vocab ? 0 : max(Float((sum - listed) / sum), minimumRest))
    }

    /// From top logprobs as given (OpenAI's `top_logprobs`, natural logs): their probabilities, normalized together
    /// with the rest when rounding makes them sum past 1.
    public static func fromLogprobs(_ entries: [(id: Int32, logprob: Double)]) -> TeacherDistribution {
        var seen = Set<Int32>(), ids: [Int32] = [], p: [Double] = []
        for e in entries where seen.insert(e.id).inserted {
            ids.append(e.id)
            p.append(exp(min(e.logprob, 0)))
        }
        let listed = p.reduce(0, +)
        let rest = max(1 - listed, Double(minimumRest))
        let total = listed + rest
        return TeacherDistribution(ids: ids, probabilities: p.map { Float($0 / total) }, rest: Float(rest / total))
    }
}
