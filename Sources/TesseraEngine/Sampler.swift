import Foundation

/// Chooses each next token of one sequence. Order, as in vLLM: penalties, then temperature, top-k, top-p, min-p.
public struct Sampler: Sendable {
    public let parameters: SamplingParameters
    private var random: RandomSource
    /// Tokens of the prompt and the output (for the repetition penalty).
    private var seen: Set<Int32>
    /// How often each token was generated (presence and frequency penalties).
    private var generatedCounts: [Int32: Int] = [:]

    public init(parameters: SamplingParameters, prompt: [Int32]) {
        self.parameters = parameters
        random = RandomSource(seed: parameters.seed ?? UInt64.random(in: .min ... .max))
        seen = Set(prompt)
    }

    /// Records a token chosen for this sequence (by `sample` or forced by the caller).
    public mutating func accept(_ token: Int32) {
        seen.insert(token)
        generatedCounts[token, default: 0] += 1
    }

    /// Picks the next token from `logits` (one row over the vocabulary). Does not record it: call `accept`.
    public mutating func sample(_ logits: ArraySlice<Float>) -> Int32 {
        let p = parameters
        // The row is read in place unless penalties change it: a copy of a 262k-token row per step is 1 MiB.
        guard p.repetitionPenalty == 1 && p.presencePenalty == 0 && p.frequencyPenalty == 0 else {
            var l = Array(logits)
            applyPenalties(&l)
            return l.withUnsafeBufferPointer { choose($0) }
        }
        return logits.withUnsafeBufferPointer { choose($0) }
    }

    /// `sample` over the row as the penalties left it.
    private mutating func choose(_ l: UnsafeBufferPointer<Float>) -> Int32 {
        let p = parameters
        if p.temperature == 0 { return Self.argmax(l) }

        // Candidates in descending logit order, cut by top-k before the softmax.
        var order: [Int]
        var probs: [Double]
        if p.topK > 0 && p.topK <= 64 {
            order = topIndices(l, p.topK)  // insertion into a short list beats sorting the vocabulary
            probs = softmax(l, order)
        } else if p.topK == 0 && (p.topP < 1 || p.minP > 0), let head = headOfTheMass(l) {
            (order, probs) = head
        } else {
            order = Array(0..<l.count)
            if p.topK > 0 || p.topP < 1 || p.minP > 0 {
                order.sort { l[$0] > l[$1] || (l[$0] == l[$1] && $0 < $1) }
                if p.topK > 0 && p.topK < order.count { order.removeLast(order.count - p.topK) }
            }
            probs = softmax(l, order)
        }

        var keep = probs.count
        if p.topP < 1 {
            var cum = 0.0
            for (i, pr) in probs.enumerated() {
                cum += pr
                if cum >= Double(p.topP) { keep = i + 1; break }
            }
        }
        if p.minP > 0, let top = probs.first {
            let floor = top * Double(p.minP)
            keep = min(keep, probs.prefix(keep).firstIndex { $0 < floor } ?? keep)
        }
        keep = max(keep, 1)
        let mass = probs.prefix(keep).reduce(0, +)
        var r = random.nextUnit() * mass
        for i in 0..<keep {
            r -= probs[i]
            if r < 0 { return Int32(order[i]) }
        }
        return Int32(order[keep - 1])
    }

    /// Probabilities at temperature of the candidates `order`, normalized over them.
    private func softmax(_ l: UnsafeBufferPointer<Float>, _ order: [Int]) -> [Double] {
        let maxLogit = order.lazy.map { l[$0] }.max() ?? 0, t = parameters.temperature
        let probs = order.map { exp(Double((l[$0] - maxLogit) / t)) }
        let total = probs.reduce(0, +)
        return probs.map { $0 / total }
    }

    /// Top-p and min-p without sorting the vocabulary (262k tokens for Gemma): the 64 largest logits, when they
    /// already hold top-p's mass or reach below min-p's floor, are every candidate that can be kept; their
    /// probabilities are over the whole vocabulary. Nil when they are not enough (a flat distribution).
    private func headOfTheMass(_ l: UnsafeBufferPointer<Float>) -> ([Int], [Double])? {
        let p = parameters, top = topIndices(l, 64)
        guard let first = top.first, top.count < l.count else { return nil }
        let maxLogit = l[first]
        var total = 0.0
        for x in l { total += exp(Double((x - maxLogit) / p.temperature)) }
        let probs = top.map { exp(Double((l[$0] - maxLogit) / p.temperature)) / total }
        let reachesTopP = p.topP < 1 && probs.reduce(0, +) >= Double(p.topP)
        let reachesMinP = p.minP > 0 && probs.last! < probs[0] * Double(p.minP)
        return reachesTopP || reachesMinP ? (top, probs) : nil
    }

    private func applyPenalties(_ l: inout [Float]) {
        let p = parameters
        if p.repetitionPenalty != 1 {
            for t in seen where Int(t) < l.count {
                let i = Int(t)
                l[i] = l[i] > 0 ? l[i] / p.repetitionPenalty : l[i] * p.repetitionPenalty
            }
        }
        if p.presencePenalty != 0 || p.frequencyPenalty != 0 {
            for (t, n) in generatedCounts where Int(t) < l.count {
                l[Int(t)] -= p.presencePenalty + p.frequencyPenalty * Float(n)
            }
        }
    }

    /// Index of the largest logit in a row (the first of equals).
    public static func argmax(_ row: ArraySlice<Float>) -> Int32 {
        row.withUnsafeBufferPointer { argmax($0) }
    }

    static func argmax(_ row: UnsafeBufferPointer<Float>) -> Int32 {
        // 16 lanes at a time, each keeping its largest value and the block it was first seen in; then the lanes'
        // best, ties to the lowest index. A 262k vocabulary in ~0.07 ms, where comparing each element with the best so
        // far (a load that depends on the last compare) took ~0.2 ms per row. NaNs are never the best.
        // (`replace(with:where:)`, not `pointwiseMax`, which this compiler leaves ~40x slower.)
        guard let base = row.baseAddress else { return 0 }
        let n = row.count, whole = n / 16 * 16
        let raw = UnsafeRawPointer(base)
        var lanes = SIMD16<Float>(repeating: -.infinity)
        var seen = SIMD16<Int32>(repeating: 0), block = SIMD16<Int32>(repeating: 0)
        for i in stride(from: 0, to: whole, by: 16) {
            let v = raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self)
            let better = lanes .< v
            lanes.replace(with: v, where: better)
            seen.replace(with: block, where: better)
            block &+= SIMD16(repeating: 1)
        }
        var best = 0, top = -Float.infinity
        for l in 0..<16 where lanes[l] > top || (lanes[l] == top && Int(seen[l]) * 16 + l < best) {
            top = lanes[l]
            best = Int(seen[l]) * 16 + l
        }
        for i in whole..<n where row[i] > top {
            top = row[i]
            best = i
        }
        return Int32(best)
    }

    /// Indices of the k largest values, largest first (ties: lower index first).
    private func topIndices(_ l: UnsafeBufferPointer<Float>, _ k: Int) -> [Int] {
        var top: [Int] = []
        top.reserveCapacity(k + 1)
        func before(_ a: Int, _ b: Int) -> Bool { l[a] > l[b] || (l[a] == l[b] && a < b) }
        for i in 0..<l.count {
            if top.count == k, let last = top.last, !before(i, last) { continue }
            var pos = top.count
            while pos > 0 && before(i, top[pos - 1]) { pos -= 1 }
            top.insert(i, at: pos)
            if top.count > k { top.removeLast() }
        }
        return top
    }
}
