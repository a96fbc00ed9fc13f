import CKernels
import Testing
import TesseraKernels
import TesseraTestSupport

/// The int8 formulation (DESIGN 3.3): the VNNI kernels against their generic twin, which they must match bit for bit,
/// and both against fp32 activations within the error the quantization allows.
@Suite struct Int8KernelTests {
    static let vnni = CPULevel.supported.contains(.avx512) && tk_cpu_has_vnni() != 0
    /// Q4_0, Q4_1, Q8_0: the stored types that have a panel layout.
    static let types: [Int32] = [2, 3, 8]

    func panels(_ w: WeightMatrix) throws -> (WeightMatrix, OwnedWeights) {
        try #require(w.repacked(for: .avx512, activations: .int16))
    }

    func matmul(_ w: WeightMatrix, _ x: [Float], tokens: Int, level: CPULevel, activations: ActivationPrecision,
                threads: Int = 2) -> [Float] {
        var y = [Float](repeating: .nan, count: tokens * w.rows)
        Kernels.matmul(w, x, tokens: tokens, &y, level: level, activations: activations, pool: ComputePool(threads: threads))
        return y
    }

    @Test(arguments: types)
    func panelLayoutHoldsTheStoredValues(type: Int32) throws {
        let rows = 48, columns = 96
        let bytes = randomWeights(type: type, rows: rows, columns: columns, seed: 11)
        try bytes.withUnsafeBytes { raw in
            let w = WeightMatrix(type: type, rows: rows, columns: columns, base: raw.baseAddress!)!
            let (p, buffer) = try panels(w)
            #expect(p.isPanelLayout && buffer.bytes == rows * p.rowBytes)
            var a = [Float](repeating: 0, count: columns), b = a
            for r in 0..<rows {
                w.dequantizeRow(r, into: &a)
                p.dequantizeRow(r, into: &b)
                // Q4_1 keeps d*u + m exactly; Q4_0 and Q8_0 become d*u + (-8d) or (-128d), one rounding apart.
                #expect(zip(a, b).allSatisfy { abs($0 - $1) <= 1e-6 * max(1, abs($0)) }, "type \(type) row \(r)")
                if type == 3 { #expect(a == b) }
            }
        }
        // Only AVX-512 with quantized activations uses panels, and only where the rows fill them.
        let odd = randomWeights(type: type, rows: 20, columns: columns, seed: 12)
        odd.withUnsafeBytes { raw in
            let w = WeightMatrix(type: type, rows: 20, columns: columns, base: raw.baseAddress!)!
            #expect(w.repacked(for: .avx512, activations: .int16).map { $0.0.isPanelLayout } != true)
        }
        bytes.withUnsafeBytes { raw in
            let w = WeightMatrix(type: type, rows: rows, columns: columns, base: raw.baseAddress!)!
            #expect(w.repacked(for: .avx512, activations: .fp32).map { $0.0.isPanelLayout } != true)
            #expect(w.repacked(for: .avx2, activations: .int16) == nil)
        }
    }

    @Test func quantizationIsTheSameAtEveryLevel() {
        guard Self.vnni else { return }
        let tokens = 7, k = 160
        var rng = SplitMix(3)
        var x = rng.floats(tokens * k).map { $0 * 40 }
        for i in 32..<64 { x[i] = 0 }  // an all-zero block
        x[70] = 1e6  // an outlier block
        for residual in [false, true] {
            func run(_ f: tk_quantize_fn) -> ([Int8], [Int8], [Float], [Float]) {
                var q = [Int8](repeating: 0, count: tokens * k), q2 = q
                var dx = [Float](repeating: 0, count: tokens * k / 32), sx = dx
                q2.withUnsafeMutableBufferPointer { q2p in
                    f(x, Int64(k), Int64(tokens), Int64(k), &q, residual ? q2p.baseAddress : nil, &dx, &sx)
                }
                return (q, q2, dx, sx)
            }
            let generic = run(tk_quantize_rows_generic), simd = run(tk_quantize_rows_avx512)
            #expect(generic.0 == simd.0 && generic.1 == simd.1 && generic.2 == simd.2 && generic.3 == simd.3,
                    "residual \(residual)")
            #expect(generic.2[1] == 0 && generic.3[1] == 0)
        }
    }

    @Test(arguments: types)
    func vnniMatchesTheGenericTwinBitForBit(type: Int32) throws {
        guard Self.vnni else { return }
        let rows = 80, columns = 128
        let bytes = randomWeights(type: type, rows: rows, columns: columns, seed: UInt64(type))
        try bytes.withUnsafeBytes { raw in
            let (p, _buffer) = try panels(WeightMatrix(type: type, rows: rows, columns: columns, base: raw.baseAddress!)!)
            for activations in [ActivationPrecision.int8, .int16] {
                for tokens in [1, 2, 3, 4, 5, 8, 9, 17] {
                    var rng = SplitMix(UInt64(tokens))
                    let x = rng.floats(tokens * columns)
                    let generic = matmul(p, x, tokens: tokens, level: .generic, activations: activations)
                    #expect(matmul(p, x, tokens: tokens, level: .avx512, activations: activations) == generic,
                            "type \(type) \(activations) tokens \(tokens)")
                }
            }
            _ = _buffer
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
            let (p, _buffer) = try panels(w)
            let exact = matmul(w, x, tokens: tokens, level: .generic, activations: .fp32)
            let scale = exact.map(abs).max()!
            for (activations, bound) in [(ActivationPrecision.int8, Float(2e-2)), (.int16, 1e-4)] {
                let got = matmul(p, x, tokens: tokens, level: .generic, activations: activations)
                let worst = zip(got, exact).map { abs($0 - $1) }.max()!
                #expect(worst <= bound * scale, "type \(type) \(activations): \(worst / scale) of the largest output")
            }
            _ = _buffer
        }
    }

    @Test func rowsAreIndependentOfBatchAndThreads() throws {
        let level: CPULevel = Self.vnni ? .avx512 : .generic
        let rows = 64, columns = 96, tokens = 13
        var rng = SplitMix(17)
        let x = rng.floats(tokens * columns)
        for type in Self.types {
            let bytes = randomWeights(type: type, rows: rows, columns: columns, seed: 2)
            try bytes.withUnsafeBytes { raw in
                let (p, _buffer) = try panels(WeightMatrix(type: type, rows: rows, columns: columns, base: raw.baseAddress!)!)
                let batched = matmul(p, x, tokens: tokens, level: level, activations: .int16, threads: 1)
                #expect(matmul(p, x, tokens: tokens, level: level, activations: .int16, threads: 3) == batched)
                for t in 0..<tokens {
                    let one = matmul(p, Array(x[(t * columns)..<((t + 1) * columns)]), tokens: 1, level: level, activations: .int16)
                    #expect(one == Array(batched[(t * rows)..<((t + 1) * rows)]), "type \(type) token \(t)")
                }
                _ = _buffer
            }
        }
    }
}
