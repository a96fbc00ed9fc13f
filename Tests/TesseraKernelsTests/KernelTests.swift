import Foundation
import Testing
import TesseraKernels
import TesseraTestSupport

/// Every SIMD level this machine supports against the generic twin, on random data with odd sizes.
@Suite struct KernelTests {
    static let simdLevels = CPULevel.supported.filter { $0 != .generic }
    /// GGML type ids: F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K, IQ4_NL, BF16.
    static let types: [Int32] = [0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 20, 30]

    func close(_ a: [Float], _ b: [Float], relative: Float = 2e-5) -> Bool {
        let scale = max(1, b.map(abs).max() ?? 1)
        return zip(a, b).allSatisfy { abs($0 - $1) <= relative * scale }
    }

    func matmul(_ w: WeightMatrix, _ x: [Float], tokens: Int, level: CPULevel, threads: Int = 2) -> [Float] {
        var y = [Float](repeating: .nan, count: tokens * w.rows)
        Kernels.matmul(w, x, tokens: tokens, &y, level: level, pool: ComputePool(threads: threads))
        return y
    }

    @Test(arguments: types)
    func matmulAgreesWithGenericAtEveryLevel(type: Int32) {
        let blockValues = [12, 13, 14].contains(type) ? 256 : [2, 3, 6, 7, 8, 20].contains(type) ? 32 : 1
        let shapes = blockValues == 1 ? [(5, 37), (9, 100)] : [(7, blockValues * 3), (13, blockValues * 2)]
        for (rows, columns) in shapes {
            for tokens in [1, 3, 4, 5, 9, 100] {
                var rng = SplitMix(UInt64(rows * 31 + tokens))
                let x = rng.floats(tokens * columns)
                let bytes = randomWeights(type: type, rows: rows, columns: columns, seed: UInt64(type) + 7)
                bytes.withUnsafeBytes { raw in
                    let w = WeightMatrix(type: type, rows: rows, columns: columns, base: raw.baseAddress!)!
                    // The generic result against a plain double-precision dot product of the dequantized rows.
                    let reference = matmul(w, x, tokens: tokens, level: .generic)
                    var row = [Float](repeating: 0, count: columns)
                    var exact = [Float](repeating: 0, count: tokens * rows)
                    for r in 0..<rows {
                        w.dequantizeRow(r, into: &row)
                        for t in 0..<tokens {
                            exact[t * rows + r] = Float((0..<columns).reduce(0.0) { $0 + Double(row[$1]) * Double(x[t * columns + $1]) })
                        }
                    }
                    #expect(close(reference, exact), "generic type \(type) \(rows)x\(columns) tokens \(tokens)")
                    for level in Self.simdLevels {
                        #expect(close(matmul(w, x, tokens: tokens, level: level), reference),
                                "\(level) type \(type) \(rows)x\(columns) tokens \(tokens)")
                    }
                }
            }
        }
    }

    /// A row's numbers must not depend on how many other rows share the call or how rows are split over threads:
    /// that is what makes a sequence's output the same alone or batched.
    @Test(arguments: CPULevel.supported)
    func rowsAreIndependentOfBatchAndThreads(level: CPULevel) {
        let rows = 36, columns = 96, tokens = 11
        var rng = SplitMix(5)
        let x = rng.floats(tokens * columns)
        for type: Int32 in [3, 8, 2, 0] {
            let bytes = randomWeights(type: type, rows: rows, columns: columns, seed: 3)
            bytes.withUnsafeBytes { raw in
                let w = WeightMatrix(type: type, rows: rows, columns: columns, base: raw.baseAddress!)!
                let batched = matmul(w, x, tokens: tokens, level: level, threads: 1)
                #expect(matmul(w, x, tokens: tokens, level: level, threads: 3) == batched)
                for t in 0..<tokens {
                    let single = matmul(w, Array(x[(t * columns)..<((t + 1) * columns)]), tokens: 1, level: level, threads: 2)
                    #expect(single == Array(batched[(t * rows)..<((t + 1) * rows)]), "\(level) type \(type) token \(t)")
                }
            }
        }
    }

    @Test(arguments: [40, 64])
    func attentionAgreesWithGeneric(hd: Int) {
        let heads = 6, kvHeads = 2, start = 13, rows = 5, width = kvHeads * hd
        var rng = SplitMix(11)
        let q = rng.floats(rows * heads * hd)
        let keys = rng.floats((start + rows) * width), values = rng.floats((start + rows) * width)
        func run(_ level: CPULevel) -> [Float] {
            var out = [Float](repeating: .nan, count: rows * heads * hd)
            Kernels.attention(q: q, rows: rows, start: start, keys: keys, values: values, heads: heads, kvHeads: kvHeads,
                              headDim: hd, out: &out, level: level, pool: ComputePool(threads: 2))
            return out
        }
        // The same positions scattered over blocks of 4 rows in a larger pool, in the order of `table`.
        let blockTokens = 4, table: [Int32] = [3, 0, 5, 2, 1]
        var pagedKeys = [Float](repeating: .nan, count: 6 * blockTokens * width), pagedValues = pagedKeys
        for p in 0..<(start + rows) {
            let row = Int(table[p / blockTokens]) * blockTokens + p % blockTokens
            for i in 0..<width {
                pagedKeys[row * width + i] = keys[p * width + i]
                pagedValues[row * width + i] = values[p * width + i]
            }
        }
        func runPaged(_ level: CPULevel) -> [Float] {
            var out = [Float](repeating: .nan, count: rows * heads * hd)
            pagedKeys.withUnsafeBufferPointer { k in
                pagedValues.withUnsafeBufferPointer { v in
                    table.withUnsafeBufferPointer { t in
                        Kernels.attention(
                            q: q, segments: [.init(row: 0, rows: rows, start: start, keys: k.baseAddress!, values: v.baseAddress!,
                                                   blocks: t.baseAddress!, blockTokens: blockTokens)],
                            heads: heads, kvHeads: kvHeads, headDim: hd, out: &out, level: level, pool: ComputePool(threads: 2))
                    }
                }
            }
            return out
        }
        let reference = run(.generic)
        // Row 0, head 0 by hand: softmax over positions 0...start of q·k / sqrt(hd), then the weighted values.
        var scores = (0...start).map { p in (0..<hd).reduce(Float(0)) { $0 + q[$1] * keys[p * width + $1] } / Float(hd).squareRoot() }
        let m = scores.max()!
        scores = scores.map { exp($0 - m) }
        let z = scores.reduce(0, +)
        for d in 0..<hd {
            let expected = (0...start).reduce(Float(0)) { $0 + scores[$1] / z * values[$1 * width + d] }
            #expect(abs(reference[d] - expected) < 1e-5)
        }
        for level in Self.simdLevels { #expect(close(run(level), reference), "\(level)") }
        // A block table changes where rows are read, not the arithmetic.
        for level in [CPULevel.generic] + Self.simdLevels { #expect(runPaged(level) == run(level), "\(level) paged") }
    }

    @Test func elementwiseKernelsAgreeWithGeneric() {
        var rng = SplitMix(2)
        for n in [1, 15, 16, 17, 100, 577] {
            let x = rng.floats(n).map { $0 * 12 }, w = rng.floats(n), up = rng.floats(n)
            func norm(_ level: CPULevel) -> [Float] {
                var y = [Float](repeating: 0, count: n)
                Kernels.rmsNorm(x, weight: w, &y, n: n, eps: 1e-5, level: level)
                return y
            }
            func silu(_ level: CPULevel) -> [Float] {
                var g = x
                Kernels.siluMultiply(&g, up, level: level)
                return g
            }
            func siluBackward(_ level: CPULevel) -> [Float] {
                var dg = [Float](repeating: 0, count: n), du = dg
                Kernels.siluMultiplyBackward(x, up, w, dg: &dg, du: &du, count: n, level: level)
                return dg + du
            }
            let rms = (x.map { $0 * $0 }.reduce(0, +) / Float(n) + 1e-5).squareRoot()
            let sigmoid: [Float] = x.map { 1 / (1 + exp(-$0)) }
            let dg: [Float] = (0..<n).map { i in w[i] * up[i] * sigmoid[i] * (1 + x[i] * (1 - sigmoid[i])) }
            let du: [Float] = (0..<n).map { i in w[i] * x[i] * sigmoid[i] }
            #expect(close(siluBackward(.generic), dg + du))
            #expect(close(norm(.generic), (0..<n).map { x[$0] / rms * w[$0] }))
            #expect(close(silu(.generic), (0..<n).map { x[$0] / (1 + exp(-x[$0])) * up[$0] }))
            for level in Self.simdLevels {
                #expect(close(norm(level), norm(.generic)), "rmsnorm \(level) n \(n)")
                #expect(close(silu(level), silu(.generic), relative: 1e-6), "silu \(level) n \(n)")
                #expect(close(siluBackward(level), siluBackward(.generic), relative: 1e-6), "silu backward \(level) n \(n)")
            }
        }
    }

    /// The trainer's cross-entropy row: log-sum-exp and the scaled softmax, against Double arithmetic and the twin.
    @Test func logSoftmaxRowsAgreeWithGeneric() {
        var rng = SplitMix(3)
        for n in [1, 7, 16, 33, 1000, 49152] {
            let x = rng.floats(n).map { $0 * 20 }
            let m = Double(x.max()!), sum = x.reduce(0.0) { $0 + exp(Double($1) - m) }
            let expected = (m + log(sum), x.map { Float(exp(Double($0) - m) / sum * 0.25) })
            for level in [CPULevel.generic] + Self.simdLevels {
                var y = x
                let lse = Kernels.logSoftmaxRow(&y, count: n, scale: 0.25, level: level)
                #expect(abs(lse - expected.0) <= 1e-5 * max(1, abs(expected.0)), "\(level) n \(n)")
                #expect(close(y, expected.1, relative: 1e-5), "\(level) n \(n)")
                var z = x
                #expect(Kernels.logSoftmaxRow(&z, count: n, scale: 0, level: level) == lse, "scale 0 gives the same sum")
            }
        }
    }

    @Test func fp16RoundTripsEveryFiniteValue() {
        for bits in UInt16.min...UInt16.max {
            let f = Half.float(fromFP16: bits)
            if f.isNaN { continue }
            #expect(Half.fp16(from: f) == bits)
        }
        #expect(Half.fp16(from: 1e6) == 0x7c00, "overflow goes to infinity")
        #expect(Half.fp16(from: 1.0009765625 + 0.00048828125) == 0x3c02, "ties round to even")
        #expect(Half.float(fromBF16: 0x3f80) == 1)
    }

    @Test func levelSelectionFollowsTheMachine() {
        #expect(CPULevel.supported.contains(.generic))
        #expect(CPULevel.selected.rawValue <= CPULevel.best.rawValue)
    }
}

@Suite struct RepackTests {
    /// The load-time layout must give exactly the numbers of the stored layout, one token or many.
    @Test func repackedQ4_1MatchesStoredLayout() throws {
        let rows = 20, columns = 96
        let bytes = randomWeights(type: 3, rows: rows, columns: columns, seed: 21)
        var rng = SplitMix(8)
        try bytes.withUnsafeBytes { raw in
            let w = WeightMatrix(type: 3, rows: rows, columns: columns, base: raw.baseAddress!)!
            #expect(w.repacked(for: .generic) == nil, "only the AVX-512 kernels use the repacked layout")
            guard CPULevel.supported.contains(.avx512) else { return }
            let (r, buffer) = try #require(w.repacked(for: .avx512))
            #expect(buffer.bytes == rows * columns / 32 * 24)
            var a = [Float](repeating: 0, count: columns), b = a
            for row in 0..<rows {
                w.dequantizeRow(row, into: &a)
                r.dequantizeRow(row, into: &b)
                #expect(a == b)
            }
            for tokens in [1, 3, 7] {
                let x = rng.floats(tokens * columns)
                var y1 = [Float](repeating: 0, count: tokens * rows), y2 = y1
                Kernels.matmul(w, x, tokens: tokens, &y1, level: .avx512)
                Kernels.matmul(r, x, tokens: tokens, &y2, level: .avx512)
                #expect(y1 == y2, "tokens \(tokens)")
            }
        }
    }
}
