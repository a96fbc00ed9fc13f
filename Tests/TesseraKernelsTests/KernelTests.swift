import Testing
import TesseraKernels

@Suite(.serialized) struct KernelTests {
    /// A random Q8_0 matrix: blocks of fp16 scale + 32 int8 values.
    func q8Matrix(rows: Int, columns: Int, seed: UInt64) -> [UInt8] {
        var rng = SplitMix(seed)
        var bytes: [UInt8] = []
        for _ in 0..<(rows * columns / 32) {
            let d = Half.fp16(from: Float(rng.next() % 1000) / 20000 + 0.001)
            bytes += [UInt8(d & 0xff), UInt8(d >> 8)]
            for _ in 0..<32 { bytes.append(UInt8(truncatingIfNeeded: rng.next())) }
        }
        return bytes
    }

    @Test(arguments: [(1, 32, 1), (7, 64, 3), (130, 96, 5), (33, 288, 17)])
    func matmulEqualsDequantizeThenDot(rows: Int, columns: Int, tokens: Int) {
        let bytes = q8Matrix(rows: rows, columns: columns, seed: UInt64(rows * 1000 + columns))
        var rng = SplitMix(42)
        let x = (0..<(tokens * columns)).map { _ in Float(Int(rng.next() % 2001) - 1000) / 1000 }
        bytes.withUnsafeBytes { raw in
            let w = WeightMatrix(type: 8, rows: rows, columns: columns, base: raw.baseAddress!)!
            #expect(w.rowBytes == columns / 32 * 34)
            var y = [Float](repeating: .nan, count: tokens * rows)
            Kernels.matmul(w, x, tokens: tokens, &y)
            var row = [Float](repeating: 0, count: columns)
            for r in 0..<rows {
                w.dequantizeRow(r, into: &row)
                for t in 0..<tokens {
                    var expected: Double = 0
                    for c in 0..<columns { expected += Double(row[c]) * Double(x[t * columns + c]) }
                    let got = y[t * rows + r]
                    #expect(abs(Double(got) - expected) <= 1e-4 * max(1, abs(expected)), "row \(r) token \(t)")
                }
            }
        }
    }

    @Test func resultsDoNotDependOnThreadCount() {
        let rows = 200, columns = 128, tokens = 3
        let bytes = q8Matrix(rows: rows, columns: columns, seed: 9)
        let x = (0..<(tokens * columns)).map { Float($0 % 17) / 7 - 1 }
        bytes.withUnsafeBytes { raw in
            let w = WeightMatrix(type: 8, rows: rows, columns: columns, base: raw.baseAddress!)!
            var one = [Float](repeating: 0, count: tokens * rows), many = one
            let saved = Kernels.threads
            defer { Kernels.threads = saved }
            Kernels.threads = 1
            Kernels.matmul(w, x, tokens: tokens, &one)
            Kernels.threads = 4
            Kernels.matmul(w, x, tokens: tokens, &many)
            #expect(one == many)
        }
    }

    @Test func rowResultsDoNotDependOnBatchSize() {
        let rows = 64, columns = 96
        let bytes = q8Matrix(rows: rows, columns: columns, seed: 3)
        let x = (0..<(5 * columns)).map { Float(($0 * 7) % 23) / 11 - 1 }
        bytes.withUnsafeBytes { raw in
            let w = WeightMatrix(type: 8, rows: rows, columns: columns, base: raw.baseAddress!)!
            var batched = [Float](repeating: 0, count: 5 * rows)
            Kernels.matmul(w, x, tokens: 5, &batched)
            for t in 0..<5 {
                var single = [Float](repeating: 0, count: rows)
                Array(x[(t * columns)..<((t + 1) * columns)]).withUnsafeBufferPointer { Kernels.matmul(w, $0.baseAddress!, tokens: 1, &single) }
                #expect(single == Array(batched[(t * rows)..<((t + 1) * rows)]))
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

    @Test func rmsNormMatchesDefinition() {
        let x: [Float] = [1, -2, 3, -4, 5]
        let w: [Float] = [1, 1, 2, 2, 0.5]
        var y = [Float](repeating: 0, count: 5)
        Kernels.rmsNorm(x, weight: w, &y, n: 5, eps: 1e-5)
        let rms = (x.map { $0 * $0 }.reduce(0, +) / 5 + 1e-5).squareRoot()
        for i in 0..<5 { #expect(abs(y[i] - x[i] / rms * w[i]) < 1e-6) }
    }
}

struct SplitMix {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
