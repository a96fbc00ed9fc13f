import Testing
import TesseraKernels
import TesseraTestSupport

/// An f16 KV cache is read as its values widened to fp32, then the same arithmetic: at every level, attention over
/// an f16 cache gives exactly the bits of attention over an fp32 cache holding the f16-rounded values, for every head
/// size with a fast path (64, 128, 256) and one without (40), grouped, windowed and paged.
@Suite struct AttentionF16Tests {
    @Test(arguments: [40, 64, 128, 256])
    func f16CacheReadsAsItsWidenedValues(hd: Int) {
        let heads = 8, kvHeads = 2, start = 37, rows = 5, width = kvHeads * hd, span = start + rows
        var rng = SplitMix(UInt64(31 + hd))
        let q = rng.floats(rows * heads * hd).map { $0 * 2 }
        let keys = rng.floats(span * width), values = rng.floats(span * width)
        let halfKeys = keys.map { Half.fp16(from: $0) }, halfValues = values.map { Half.fp16(from: $0) }
        let roundedKeys = halfKeys.map { Half.float(fromFP16: $0) }, roundedValues = halfValues.map { Half.float(fromFP16: $0) }
        // Positions scattered over blocks of 4 rows, as the paged cache keeps them.
        let blockTokens = 4, table: [Int32] = [9, 2, 0, 7, 4, 1, 10, 3, 8, 6, 5]
        #expect(table.count * blockTokens >= span)
        func paged<T>(_ x: [T], fill: T) -> [T] {
            var out = [T](repeating: fill, count: table.count * blockTokens * width)
            for p in 0..<span {
                let row = Int(table[p / blockTokens]) * blockTokens + p % blockTokens
                for i in 0..<width { out[row * width + i] = x[p * width + i] }
            }
            return out
        }
        func run<T>(_ k: [T], _ v: [T], _ type: KVCacheType, blocks: [Int32]?, window: Int, level: CPULevel) -> [Float] {
            var out = [Float](repeating: .nan, count: rows * heads * hd)
            k.withUnsafeBytes { k in
                v.withUnsafeBytes { v in
                    (blocks ?? [0]).withUnsafeBufferPointer { t in
                        Kernels.attention(
                            q: q, segments: [.init(row: 0, rows: rows, start: start, keys: k.baseAddress!, values: v.baseAddress!,
                                                   type: type, blocks: blocks == nil ? nil : t.baseAddress!,
                                                   blockTokens: blocks == nil ? 0 : blockTokens)],
                            heads: heads, kvHeads: kvHeads, headDim: hd, window: window, out: &out, level: level,
                            pool: ComputePool(threads: 2))
                    }
                }
            }
            return out
        }
        for level in CPULevel.supported {
            for window in [0, 7] {
                let exact = run(roundedKeys, roundedValues, .fp32, blocks: nil, window: window, level: level)
                #expect(!exact.contains { $0.isNaN })
                #expect(run(halfKeys, halfValues, .f16, blocks: nil, window: window, level: level) == exact,
                        "\(level) hd \(hd) window \(window)")
                // (A window starting mid-block may move a paged result by ulps from the contiguous one: paged to paged.)
                let exactPaged = run(paged(roundedKeys, fill: .nan), paged(roundedValues, fill: .nan), .fp32, blocks: table,
                                     window: window, level: level)
                #expect(run(paged(halfKeys, fill: 0x7E00), paged(halfValues, fill: 0x7E00), .f16, blocks: table,
                            window: window, level: level) == exactPaged, "\(level) hd \(hd) window \(window) paged")
            }
        }
    }
}
