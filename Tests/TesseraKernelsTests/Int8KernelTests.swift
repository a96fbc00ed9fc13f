import CKernels
import Testing
import TesseraKernels
import TesseraTestSupport

/// The int8 formulation (DESIGN 3.3): the AVX2 and VNNI kernels against their generic twin, which they must match bit
/// for bit, and all against fp32 activations within the error the quantization allows.
@Suite struct Int8KernelTests {
    static let vnni = CPULevel.supported.contains(.avx512) && tk_cpu_has_vnni() != 0
    static let avx2 = CPULevel.supported.contains(.avx2)
    /// Every stored type that has a panel layout: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K, IQ4_NL.
    static let types: [Int32] = [2, 3, 6, 7, 8, 12, 13, 14, 20]
    /// Types whose panels hold exactly the stored weights (the others are one rounding of d * (u - c) away).
    static let exact: Set<Int32> = [3, 7, 12, 13, 14, 20]

    static func columns(_ type: Int32, _ small: Int) -> Int { [12, 13, 14].contains(type) ? 256 * ((small + 255) / 256) : small }

    /// The panel layout of the VNNI kernels (unsigned bytes) or of the AVX2 ones.
    func panels(_ w: WeightMatrix, vnni: Bool) throws -> (WeightMatrix, OwnedWeights) {
        let target = tk_repacked_type(w.type, Int64(w.rows), 1, vnni ? 1 : 0)
        let layout = try #require(WeightMatrix(type: target, rows: w.rows, columns: w.columns, base: w.base))
        try #require(layout.isPanelLayout)
        let buffer = OwnedWeights(bytes: w.rows * layout.rowBytes)
        try #require(tk_repack(w.type, target, w.base, buffer.pointer, Int64(w.rows), Int64(w.columns)) != 0)
        return (WeightMatrix(type: target, rows: w.rows, columns: w.columns, base: buffer.pointer)!, buffer)
    }

    /// The int8 levels this machine runs, each with the layout its kernels take.
    static var simdLevels: [(CPULevel, Bool)] {
        (avx2 ? [(CPULevel.avx2, false)] : []) + (vnni ? [(.avx512, true)] : [])
    }

    func matmul(_ w: WeightMatrix, _ x: [Float], tokens: Int, level: CPULevel, activations: ActivationPrecision,
                threads: Int = 2) -> [Float] {
        var y = [Float](repeating: .nan, count: tokens * w.rows)
        Kernels.matmul(w, x, tokens: tokens, &y, level: level, activations: activations, pool: ComputePool(threads: threads))
        return y
    }

    @Test(arguments: types)
    func panelLayoutHoldsTheStoredValues(type: Int32) throws {
        let rows = 48, columns = Self.columns(type, 96)
        let bytes = randomWeights(type: type, rows: rows, columns: columns, seed: 11)
        try bytes.withUnsafeBytes { raw in
            let w = WeightMatrix(type: type, rows: rows, columns: columns, base: raw.baseAddress!)!
            for vnni in [false, true] {
                let (p, buffer) = try panels(w, vnni: vnni)
                // Panels hold the stored bytes, no more: decode streams what the file holds.
                #expect(p.rowBytes == w.rowBytes && buffer.bytes == rows * w.rowBytes)
                var a = [Float](repeating: 0, count: columns), b = a
                for r in 0..<rows {
                    w.dequantizeRow(r, into: &a)
                    p.dequantizeRow(r, into: &b)
                    // Q8_0's -128 becomes -127 in the signed layout (random bytes hold some).
                    let close = zip(a, b).allSatisfy { abs($0 - $1) <= 1e-6 * max(1, abs($0)) }
                    let clamped = type == 8 && !vnni
                    #expect(close || clamped, "type \(type) row \(r) vnni \(vnni)")
                    if Self.exact.contains(type) { #expect(a == b, "type \(type) row \(r) vnni \(vnni)") }
                }
            }
        }
        // Rows that do not fill panels stay as stored; so does everything with fp32 activations (but Q4_1's scales).
        let odd = randomWeights(type: type, rows: 20, columns: columns, seed: 12)
        odd.withUnsafeBytes { raw in
            let w = WeightMatrix(type: type, rows: 20, columns: columns, base: raw.baseAddress!)!
            #expect(w.repacked(for: .avx2, activations: .int16) == nil)
        }
        bytes.withUnsafeBytes { raw in
            let w = WeightMatrix(type: type, rows: rows, columns: columns, base: raw.baseAddress!)!
            #expect(w.repacked(for: .avx512, activations: .fp32).map { $0.0.isPanelLayout } != true)
            #expect(w.repacked(for: .avx2, activations: .fp32) == nil)
            #expect(w.repacked(for: .generic, activations: .int16) == nil)
            #expect(w.repacked(for: .avx2, activations: .int8)?.0.isPanelLayout == true)
        }
    }

    @Test func quantizationIsTheSameAtEveryLevel() {
        let tokens = 7, k = 160
        var rng = SplitMix(3)
        var x = rng.floats(tokens * k).map { $0 * 40 }
        for i in 32..<64 { x[i] = 0 }  // an all-zero block
        x[70] = 1e6  // an outlier block
        let simd: [tk_quantize_fn] = (Self.avx2 ? [tk_quantize_rows_avx2] : []) + (Self.vnni ? [tk_quantize_rows_avx512] : [])
        for residual in [false, true] {
            func run(_ f: tk_quantize_fn) -> ([Int8], [Int8], [Float], [Float]) {
                var q = [Int8](repeating: 0, count: tokens * k), q2 = q
                var dx = [Float](repeating: 0, count: tokens * k / 32), sx = dx
                q2.withUnsafeMutableBufferPointer { q2p in
                    f(x, Int64(k), Int64(tokens), Int64(k), &q, residual ? q2p.baseAddress : nil, &dx, &sx)
                }
                return (q, q2, dx, sx)
            }
            let generic = run(tk_quantize_rows_generic)
            for f in simd {
                let got = run(f)
                #expect(generic.0 == got.0 && generic.1 == got.1 && generic.2 == got.2 && generic.3 == got.3,
                        "residual \(residual)")
            }
            #expect(generic.2[1] == 0 && generic.3[1] == 0)
        }
    }

    @Test(arguments: types)
    func simdMatchesTheGenericTwinBitForBit(type: Int32) throws {
        // 9 blocks of 32, or two super-blocks of the K-quants (whose scales sit in a header per super-block).
        let rows = 80, columns = Self.columns(type, 288)
        let bytes = randomWeights(type: type, rows: rows, columns: columns, seed: UInt64(type))
        try bytes.withUnsafeBytes { raw in
            let w = WeightMatrix(type: type, rows: rows, columns: columns, base: raw.baseAddress!)!
            for (level, vnni) in Self.simdLevels {
                let (p, _buffer) = try panels(w, vnni: vnni)
                for activations in [ActivationPrecision.int8, .int16] {
                    // Groups of 4 tokens, and of 8 with tails of 1, 5, 6 and 7.
                    for tokens in [1, 2, 3, 4, 5, 8, 9, 14, 15, 21] {
                        var rng = SplitMix(UInt64(tokens))
                        // Large values make blocks whose residual saturates at -128 and 127.
                        let x = rng.floats(tokens * columns).enumerated().map { $1 * ($0 % 37 == 0 ? 50 : 1) }
                        let generic = matmul(p, x, tokens: tokens, level: .generic, activations: activations)
                        #expect(matmul(p, x, tokens: tokens, level: level, activations: activations) == generic,
                                "type \(type) \(level) \(activations) tokens \(tokens)")
                    }
                }
                _ = _buffer
            }
        }
    }

    /// Against fp32 activations: int8's error is about 1/254 of a block's largest activation per value, int16's
    /// about 1/65000.
    @Test(arguments: types)
    func quantizedActivationsStayCloseToFP32(type: Int32) throws {
        let rows = 32, columns = 256, tokens = 5
        let bytes = randomWeights(type: type, rows: rows, columns: columns, seed: 5)
        var rng = SplitMix(9)
        let x = rng.floats(tokens * columns)
        try bytes.withUnsafeBytes { raw in
            let w = WeightMatrix(type: type, rows: rows, columns: columns, base: raw.baseAddress!)!
            for vnni in [false, true] {
                let (p, _buffer) = try panels(w, vnni: vnni)
                // The exact product with the panels' own weights (Q8_0's -128 clamps in the signed layout).
                var dense = [Float](repeating: 0, count: rows * columns)
                dense.withUnsafeMutableBufferPointer { d in
                    for r in 0..<rows { p.dequantizeRow(r, into: d.baseAddress! + r * columns) }
                }
                var exact = [Float](repeating: 0, count: tokens * rows)
                for t in 0..<tokens {
                    for r in 0..<rows {
                        exact[t * rows + r] = (0..<columns).reduce(0) { $0 + dense[r * columns + $1] * x[t * columns + $1] }
                    }
                }
                let scale = exact.map(abs).max()!
                for (activations, bound) in [(ActivationPrecision.int8, Float(2e-2)), (.int16, 1e-4)] {
                    let got = matmul(p, x, tokens: tokens, level: .generic, activations: activations)
                    let worst = zip(got, exact).map { abs($0 - $1) }.max()!
                    #expect(worst <= bound * scale, "type \(type) \(activations): \(worst / scale) of the largest output")
                }
                _ = _buffer
            }
        }
    }

    @Test func rowsAreIndependentOfBatchAndThreads() throws {
        let rows = 64, tokens = 13
        for (level, vnni) in Self.simdLevels + [(.generic, false)] {
            for type in Self.types {
                let columns = Self.columns(type, 96)
                var rng = SplitMix(17)
                let x = rng.floats(tokens * columns)
                let bytes = randomWeights(type: type, rows: rows, columns: columns, seed: 2)
                try bytes.withUnsafeBytes { raw in
                    let (p, _buffer) = try panels(WeightMatrix(type: type, rows: rows, columns: columns, base: raw.baseAddress!)!, vnni: vnni)
                    let batched = matmul(p, x, tokens: tokens, level: level, activations: .int16, threads: 1)
                    #expect(matmul(p, x, tokens: tokens, level: level, activations: .int16, threads: 3) == batched)
                    for t in 0..<tokens {
                        let one = matmul(p, Array(x[(t * columns)..<((t + 1) * columns)]), tokens: 1, level: level, activations: .int16)
                        #expect(one == Array(batched[(t * rows)..<((t + 1) * rows)]), "type \(type) \(level) token \(t)")
                    }
                    _ = _buffer
                }
            }
        }
    }
}
