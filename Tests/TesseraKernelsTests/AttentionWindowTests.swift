import Foundation
import Testing
import TesseraKernels
import TesseraTestSupport

/// Attention with a score scale and a sliding window, at every head size with a fast path (64, 128, 256) and one
/// without (40), for several groupings, against a Double reference and the generic twin, paged and not.
@Suite struct AttentionWindowTests {
    static let simdLevels = CPULevel.supported.filter { $0 != .generic }
    /// More positions than the hd 256 kernels' tile of 32, so that their value pass crosses tiles.
    static let start = 37, rows = 6, blockTokens = 4
    /// (heads, kvHeads): groups of 1, 3, 4 (Gemma 3), 8 (the most the AVX-512 hd 64/128 kernel takes) and 10 (hd 256
    /// in sub-groups of 8 and 2).
    static let groupings = [(2, 2), (6, 2), (8, 2), (8, 1), (10, 1)]
    /// None, one position, a few, within the span (crossing a block and a tile), longer than any span.
    static let windows = [0, 1, 3, 7, 33, 1000]

    struct Case {
        let hd: Int, heads: Int, kvHeads: Int
        let q: [Float], keys: [Float], values: [Float]
        var width: Int { kvHeads * hd }
        var span: Int { AttentionWindowTests.start + AttentionWindowTests.rows }

        init(hd: Int, heads: Int, kvHeads: Int) {
            self.hd = hd
            self.heads = heads
            self.kvHeads = kvHeads
            var rng = SplitMix(UInt64(hd * 100 + heads * 10 + kvHeads))
            q = rng.floats(AttentionWindowTests.rows * heads * hd).map { $0 * 2 }
            let n = (AttentionWindowTests.start + AttentionWindowTests.rows) * kvHeads * hd
            keys = rng.floats(n)
            values = rng.floats(n)
        }

        /// Row r at position P = start + r over positions max(0, P - window + 1)...P, in Double. Plain loops over
        /// buffers: the tests also run unoptimized.
        func reference(scale: Double, window: Int) -> [Float] {
            let start = AttentionWindowTests.start, rows = AttentionWindowTests.rows, group = heads / kvHeads
            var out = [Float](repeating: 0, count: rows * heads * hd)
            q.withUnsafeBufferPointer { q in
                keys.withUnsafeBufferPointer { keys in
                    values.withUnsafeBufferPointer { values in
                        var e = [Double](repeating: 0, count: start + rows), o = [Double](repeating: 0, count: hd)
                        for r in 0..<rows {
                            let p = start + r, lo = window == 0 ? 0 : max(0, p - window + 1)
                            for h in 0..<heads {
                                let qo = (r * heads + h) * hd, kvo = (h / group) * hd
                                var m = -Double.infinity
                                for k in lo...p {
                                    var dot = 0.0
                                    for d in 0..<hd { dot += Double(q[qo + d]) * Double(keys[k * width + kvo + d]) }
                                    e[k] = scale * dot
                                    m = max(m, e[k])
                                }
                                var z = 0.0
                                for d in 0..<hd { o[d] = 0 }
                                for k in lo...p {
                                    let w = Foundation.exp(e[k] - m)
                                    z += w
                                    for d in 0..<hd { o[d] += w * Double(values[k * width + kvo + d]) }
                                }
                                for d in 0..<hd { out[qo + d] = Float(o[d] / z) }
                            }
                        }
                    }
                }
            }
            return out
        }

        func run(_ level: CPULevel, scale: Float?, window: Int, paged: Bool) -> [Float] {
            var out = [Float](repeating: .nan, count: AttentionWindowTests.rows * heads * hd)
            let rows = AttentionWindowTests.rows, start = AttentionWindowTests.start, bt = AttentionWindowTests.blockTokens
            let pool = ComputePool(threads: 2)
            guard paged else {
                Kernels.attention(q: q, rows: rows, start: start, keys: keys, values: values, heads: heads,
                                  kvHeads: kvHeads, headDim: hd, scale: scale, window: window, out: &out,
                                  level: level, pool: pool)
                return out
            }
            // The positions' blocks scattered over a larger pool in a shuffled order.
            let blocks = (span + bt - 1) / bt
            var rng = SplitMix(9)
            var table = (0..<(blocks + 3)).map(Int32.init)
            for i in stride(from: table.count - 1, to: 0, by: -1) { table.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
            table = Array(table.prefix(blocks))
            var pagedKeys = [Float](repeating: .nan, count: (blocks + 3) * bt * width), pagedValues = pagedKeys
            for p in 0..<span {
                let row = Int(table[p / bt]) * bt + p % bt
                for i in 0..<width {
                    pagedKeys[row * width + i] = keys[p * width + i]
                    pagedValues[row * width + i] = values[p * width + i]
                }
            }
            pagedKeys.withUnsafeBufferPointer { k in
                pagedValues.withUnsafeBufferPointer { v in
                    table.withUnsafeBufferPointer { t in
                        Kernels.attention(
                            q: q, segments: [.init(row: 0, rows: rows, start: start, keys: k.baseAddress!, values: v.baseAddress!,
                                                   blocks: t.baseAddress!, blockTokens: bt)],
                            heads: heads, kvHeads: kvHeads, headDim: hd, scale: scale, window: window, out: &out,
                            level: level, pool: pool)
                    }
                }
            }
            return out
        }
    }

    func close(_ a: [Float], _ b: [Float], relative: Float = 2e-5) -> Bool {
        let scale = max(1, b.map(abs).max() ?? 1)
        return zip(a, b).allSatisfy { abs($0 - $1) <= relative * scale }
    }

    @Test(arguments: [40, 64, 128, 256])
    func windowedScaledAttentionAgreesWithReferenceAndGeneric(hd: Int) {
        for (heads, kvHeads) in Self.groupings {
            let c = Case(hd: hd, heads: heads, kvHeads: kvHeads)
            for scale: Float? in [nil, 0.3] {
                for window in Self.windows {
                    let what = "hd \(hd) heads \(heads)/\(kvHeads) scale \(scale.map { "\($0)" } ?? "nil") window \(window)"
                    let reference = c.reference(scale: Double(scale ?? 1 / Float(hd).squareRoot()), window: window)
                    let generic = c.run(.generic, scale: scale, window: window, paged: false)
                    #expect(close(generic, reference), "generic \(what)")
                    for level in Self.simdLevels {
                        let simd = c.run(level, scale: scale, window: window, paged: false)
                        #expect(close(simd, generic), "\(level) \(what)")
                        #expect(close(simd, reference), "\(level) \(what) against the reference")
                    }
                    // A block table changes where rows are read, not the result: bit for bit where runs of positions
                    // are summed the same way (AVX2 at head sizes 64 and 128 sums a block's last positions that do
                    // not fill a group of four on their own, so a window starting mid-block differs there in ulps).
                    for level in [CPULevel.generic] + Self.simdLevels {
                        let paged = c.run(level, scale: scale, window: window, paged: true)
                        let contiguous = c.run(level, scale: scale, window: window, paged: false)
                        if level == .avx2 && hd != 256 && window > 0 {
                            #expect(zip(paged, contiguous).allSatisfy { abs($0 - $1) <= 1e-6 * max(1, abs($1)) }, "\(level) paged \(what)")
                        } else {
                            #expect(paged == contiguous, "\(level) paged \(what)")
                        }
                    }
                }
            }
        }
    }

    /// A window of one position is that position's value, exactly (one weight of exactly 1).
    @Test(arguments: [64, 128, 256])
    func windowOfOneIsTheOwnValue(hd: Int) {
        let c = Case(hd: hd, heads: 8, kvHeads: 2)
        for level in CPULevel.supported {
            let out = c.run(level, scale: 0.7, window: 1, paged: true)
            for r in 0..<Self.rows {
                for h in 0..<c.heads {
                    let g = h / (c.heads / c.kvHeads), p = Self.start + r
                    let own = Array(c.values[(p * c.width + g * hd)..<(p * c.width + (g + 1) * hd)])
                    #expect(Array(out[((r * c.heads + h) * hd)..<((r * c.heads + h + 1) * hd)]) == own, "\(level) row \(r) head \(h)")
                }
            }
        }
    }

    /// The defaults are the attention callers had before scale and window were parameters: exactly 1/√hd, no window.
    @Test func defaultsAreFullAttentionAtInverseSquareRoot() {
        let c = Case(hd: 64, heads: 6, kvHeads: 2)
        for level in CPULevel.supported {
            var out = [Float](repeating: .nan, count: Self.rows * c.heads * c.hd)
            Kernels.attention(q: c.q, rows: Self.rows, start: Self.start, keys: c.keys, values: c.values, heads: c.heads,
                              kvHeads: c.kvHeads, headDim: c.hd, out: &out, level: level, pool: ComputePool(threads: 2))
            #expect(out == c.run(level, scale: 1 / Float(64).squareRoot(), window: 0, paged: false), "\(level)")
            #expect(out == c.run(level, scale: nil, window: Self.start + Self.rows, paged: false), "\(level) window = span")
        }
    }

    /// Sequences batched in one call with a window give each sequence's numbers alone (the scratch is sized by the
    /// window, not the longest span).
    @Test func batchedWindowedSegmentsMatchAlone() {
        let hd = 256, heads = 8, kvHeads = 2, width = kvHeads * hd, window = 5
        var rng = SplitMix(17)
        let shapes = [(start: 40, rows: 3), (start: 0, rows: 7), (start: 2, rows: 1)]
        let caches = shapes.map { s in (rng.floats((s.start + s.rows) * width), rng.floats((s.start + s.rows) * width)) }
        let totalRows = shapes.reduce(0) { $0 + $1.rows }
        let q = rng.floats(totalRows * heads * hd)
        for level in CPULevel.supported {
            var batched = [Float](repeating: .nan, count: q.count)
            var alone: [Float] = []
            caches[0].0.withUnsafeBufferPointer { k0 in caches[0].1.withUnsafeBufferPointer { v0 in
                caches[1].0.withUnsafeBufferPointer { k1 in caches[1].1.withUnsafeBufferPointer { v1 in
                    caches[2].0.withUnsafeBufferPointer { k2 in caches[2].1.withUnsafeBufferPointer { v2 in
                        let kv = [(k0.baseAddress!, v0.baseAddress!), (k1.baseAddress!, v1.baseAddress!), (k2.baseAddress!, v2.baseAddress!)]
                        var row = 0
                        var segments: [Kernels.AttentionSegment] = []
                        for (i, s) in shapes.enumerated() {
                            segments.append(.init(row: row, rows: s.rows, start: s.start, keys: kv[i].0, values: kv[i].1))
                            row += s.rows
                        }
                        Kernels.attention(q: q, segments: segments, heads: heads, kvHeads: kvHeads, headDim: hd, window: window,
                                          out: &batched, level: level, pool: ComputePool(threads: 2))
                        for (i, s) in segments.enumerated() {
                            var out = [Float](repeating: .nan, count: s.rows * heads * hd)
                            let qs = Array(q[(s.row * heads * hd)..<((s.row + s.rows) * heads * hd)])
                            Kernels.attention(q: qs, rows: s.rows, start: s.start, keys: kv[i].0, values: kv[i].1, heads: heads,
                                              kvHeads: kvHeads, headDim: hd, window: window, out: &out, level: level,
                                              pool: ComputePool(threads: 1))
                            alone += out
                        }
                    } }
                } }
            } }
            #expect(batched == alone, "\(level)")
        }
    }
}
