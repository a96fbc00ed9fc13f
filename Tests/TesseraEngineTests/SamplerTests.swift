import Foundation
import Testing
import TesseraEngine

@Suite struct SamplerTests {
    /// logits favouring token 3, then 1, then 0, 2, 4.
    let logits: [Float] = [1, 2, 0.5, 4, -1]

    func parameters(_ configure: (inout SamplingParameters) -> Void) -> SamplingParameters {
        var p = SamplingParameters()
        p.seed = 7
        configure(&p)
        return p
    }

    func draws(_ p: SamplingParameters, _ n: Int = 2000) -> [Int32: Int] {
        var s = Sampler(parameters: p, prompt: [])
        var counts: [Int32: Int] = [:]
        for _ in 0..<n { counts[s.sample(logits[...]), default: 0] += 1 }
        return counts
    }

    @Test func greedyPicksTheLargestLogit() {
        var s = Sampler(parameters: .greedy(maxTokens: 1), prompt: [])
        #expect(s.sample(logits[...]) == 3)
    }

    /// The lane-wise argmax against the plain scan: lengths around the 16-lane blocks, ties (the first index wins,
    /// across lanes and blocks and in the tail), rows of -infinity, NaNs anywhere.
    @Test func argmaxIsTheFirstLargest() {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ n: Int) -> Int {  // a fixed LCG: the same rows every run
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(state >> 33) % n
        }
        func plain(_ r: [Float]) -> Int32 {
            var best = -1
            for i in r.indices where !r[i].isNaN && (best < 0 || r[i] > r[best]) { best = i }
            return Int32(max(best, 0))
        }
        for n in [1, 15, 16, 17, 31, 33, 100, 262_147] {
            for trial in 0..<6 {
                // Few distinct values, so ties are common.
                var r = (0..<n).map { _ in Float(next(trial < 3 ? 5 : 1000)) }
                if trial == 4 { r = r.map { _ in -Float.infinity } }
                if trial == 5 { for _ in 0..<max(1, n / 10) { r[next(n)] = .nan } }
                #expect(Sampler.argmax(r[...]) == plain(r), "n \(n), trial \(trial)")
            }
        }
        #expect(Sampler.argmax([Float.nan, 1, 3, 3][...]) == 2)
    }

    @Test func sameSeedSameSequence() {
        let p = parameters { $0.temperature = 1.5 }
        var a = Sampler(parameters: p, prompt: []), b = Sampler(parameters: p, prompt: [])
        let x = (0..<50).map { _ in a.sample(logits[...]) }
        let y = (0..<50).map { _ in b.sample(logits[...]) }
        #expect(x == y)
        #expect(Set(x).count > 1, "temperature 1.5 should not always give the same token")
        var c = Sampler(parameters: parameters { $0.temperature = 1.5; $0.seed = 8 }, prompt: [])
        #expect((0..<50).map { _ in c.sample(logits[...]) } != x)
    }

    @Test func frequenciesFollowTheSoftmax() {
        let counts = draws(parameters { $0.temperature = 1 }, 20000)
        let z = logits.map { exp(Double($0)) }.reduce(0, +)
        for (i, l) in logits.enumerated() {
            let expected = exp(Double(l)) / z
            let got = Double(counts[Int32(i), default: 0]) / 20000
            #expect(abs(got - expected) < 0.015, "token \(i): \(got) vs \(expected)")
        }
    }

    @Test func topKKeepsOnlyTheBest() {
        #expect(Set(draws(parameters { $0.topK = 2 }).keys) == [3, 1])
        #expect(Set(draws(parameters { $0.topK = 1 }).keys) == [3])
    }

    @Test func topPKeepsTheSmallestSufficientSet() {
        // softmax: token 3 has ~0.80, token 1 ~0.11: top_p 0.85 keeps both, 0.5 only token 3.
        #expect(Set(draws(parameters { $0.topP = 0.85 }).keys) == [3, 1])
        #expect(Set(draws(parameters { $0.topP = 0.5 }).keys) == [3])
    }

    @Test func minPDropsUnlikelyTokens() {
        // relative to token 3: token 1 is e^-2 = 0.135, token 0 e^-3 = 0.05.
        #expect(Set(draws(parameters { $0.minP = 0.1 }).keys) == [3, 1])
    }

    @Test func penaltiesLowerRepeatedTokens() {
        var s = Sampler(parameters: parameters { $0.temperature = 0; $0.frequencyPenalty = 1.5 }, prompt: [])
        #expect(s.sample(logits[...]) == 3)
        s.accept(3)
        #expect(s.sample(logits[...]) == 3, "one use: 4 - 1.5 = 2.5 still beats 2")
        s.accept(3)
        #expect(s.sample(logits[...]) == 1, "two uses: 4 - 3 = 1 loses to 2")

        var p = Sampler(parameters: parameters { $0.temperature = 0; $0.presencePenalty = 2.5 }, prompt: [])
        p.accept(3)
        #expect(p.sample(logits[...]) == 1)

        var r = Sampler(parameters: parameters { $0.temperature = 0; $0.repetitionPenalty = 2.5 }, prompt: [3])
        #expect(r.sample(logits[...]) == 1, "prompt tokens count: 4 / 2.5 = 1.6 < 2")
    }

    @Test func validationNamesTheField() {
        #expect(throws: SamplingError(field: "top_p", "top_p must be in (0, 1], got 0.0")) { try parameters { $0.topP = 0 }.validate() }
        #expect(throws: SamplingError.self) { try parameters { $0.temperature = -1 }.validate() }
        #expect(throws: SamplingError.self) { try parameters { $0.stop = [""] }.validate() }
        #expect(throws: Never.self) { try parameters { $0.topK = 5 }.validate() }
    }

    /// On a large vocabulary, top-p and min-p keep exactly the tokens they must whether the 64 largest logits hold
    /// the mass (no sort) or not (a flat tail, sorted): every draw is among the kept ones, and each kept one comes up.
    @Test(arguments: [Float(16), 0.01]) func nucleusOnALargeVocabulary(peak: Float) {
        let vocab = 262_144
        var logits = (0..<vocab).map { i in Float(i % 977) / 977 * 0.5 }  // a flat tail
        for (j, t) in [11, 70_000, 200_000].enumerated() { logits[t] = peak + Float(3 - j) * 0.1 }
        let p = parameters { $0.temperature = 1; $0.topP = 0.9 }
        var s = Sampler(parameters: p, prompt: [])
        // The kept set, by the definition: the most likely tokens until their mass reaches top-p.
        let m = Double(logits.max()!)
        let weights = logits.map { exp(Double($0) - m) }, total = weights.reduce(0, +)
        let sorted = logits.indices.sorted { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
        var kept = Set<Int>(), mass = 0.0
        for i in sorted {
            kept.insert(i)
            mass += weights[i] / total
            if mass >= 0.9 { break }
        }
        var seen = Set<Int>()
        for _ in 0..<(peak > 1 ? 400 : 20) {
            let t = Int(s.sample(logits[...]))
            #expect(kept.contains(t))
            seen.insert(t)
        }
        if peak > 1 { #expect(seen == kept) }
    }
}
