import Testing
import TesseraKernels
import TesseraTestSupport

@Suite struct LoRAKernelTests {
    /// Two sequences' rows, the second composing two adapters and the third with a DoRA adapter; widths with tails.
    struct Case {
        let inputs = 40, outputs = 37, rows = 7
        let x: [Float], y: [Float], dora: [Float]
        /// Per adapter k at offsets[k]: A (rank x inputs) then Bt (rank x outputs); fp32, and as fp16 bits.
        let weights: [Float], halves: [UInt16], offsets: [Int]
        let ranks = [3, 16, 9]

        init() {
            var rng = SplitMix(17)
            x = rng.floats(rows * inputs)
            y = rng.floats(rows * outputs)
            dora = rng.floats(outputs).map { 1 + $0 / 4 }
            let width = inputs + outputs
            let sizes = ranks.map { $0 * width }
            offsets = sizes.indices.map { sizes[..<$0].reduce(0, +) }
            let w = rng.floats(sizes.reduce(0, +)).map { $0 / 8 }
            var h = [UInt16](repeating: 0, count: w.count)
            Kernels.toFP16(w, &h, count: w.count, level: .generic)
            weights = w
            halves = h
        }

        func run(_ level: CPULevel, fp16: Bool, pieceRows: Int, parallel: Bool) -> [Float] {
            var out = y
            let es = fp16 ? 2 : 4
            func body(_ base: UnsafeRawPointer) {
                dora.withUnsafeBufferPointer { d in
                    func item(_ k: Int, _ rows: Range<Int>, weight: Float, dora: Bool = false) -> Kernels.LoRAItem {
                        let a = base + offsets[k] * es
                        return Kernels.LoRAItem(a: a, bt: a + ranks[k] * inputs * es, dora: dora ? d.baseAddress! : nil, rows: rows,
                                                rank: ranks[k], type: fp16 ? 1 : 0, weight: weight)
                    }
                    let items = [item(0, 0..<2, weight: 0.5), item(1, 2..<5, weight: 1), item(0, 2..<5, weight: -2),
                                 item(2, 5..<7, weight: 1, dora: true)]
                    let sequences = [(0..<1, 0..<2), (1..<3, 2..<5), (3..<4, 5..<7)]
                    var pieces: [Kernels.LoRAPiece] = []
                    for (itemRange, rows) in sequences {
                        for r in stride(from: rows.lowerBound, to: rows.upperBound, by: pieceRows) {
                            pieces.append(.init(items: itemRange, rows: r..<min(r + pieceRows, rows.upperBound)))
                        }
                    }
                    x.withUnsafeBufferPointer { xp in
                        Kernels.lora(items: items, pieces: pieces, x: xp.baseAddress!, inputs: inputs, y: &out, outputs: outputs,
                                     parallel: parallel, level: level, pool: ComputePool(threads: 2))
                    }
                }
            }
            if fp16 { halves.withUnsafeBytes { body($0.baseAddress!) } } else { weights.withUnsafeBytes { body($0.baseAddress!) } }
            return out
        }

        /// The same by hand, in Double.
        func expected(fp16: Bool) -> [Float] {
            let w = fp16 ? halves.map { Double(Half.float(fromFP16: $0)) } : weights.map(Double.init)
            var out = y.map(Double.init)
            func apply(_ k: Int, row: Int, weight: Double) {
                let r = ranks[k], at = offsets[k]
                let t = (0..<r).map { j in (0..<inputs).reduce(0.0) { $0 + w[at + j * inputs + $1] * Double(x[row * inputs + $1]) } }
                for o in 0..<outputs {
                    out[row * outputs + o] += (0..<r).reduce(0.0) { $0 + weight * t[$1] * w[at + r * inputs + $1 * outputs + o] }
                }
            }
            for row in 0..<2 { apply(0, row: row, weight: 0.5) }
            for row in 2..<5 {
                apply(1, row: row, weight: 1)
                apply(0, row: row, weight: -2)
            }
            for row in 5..<7 {
                apply(2, row: row, weight: 1)
                for o in 0..<outputs { out[row * outputs + o] *= Double(dora[o]) }
            }
            return out.map(Float.init)
        }
    }

    @Test(arguments: [false, true])
    func deltasMatchTheDefinitionAtEveryLevel(fp16: Bool) {
        let c = Case()
        let expected = c.expected(fp16: fp16)
        for level in CPULevel.supported {
            let got = c.run(level, fp16: fp16, pieceRows: 16, parallel: false)
            #expect(zip(got, expected).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) }, "\(level) fp16 \(fp16)")
            // However the rows are cut into pieces and shared by threads, each row's numbers are the same.
            #expect(c.run(level, fp16: fp16, pieceRows: 1, parallel: true) == got, "\(level)")
            #expect(c.run(level, fp16: fp16, pieceRows: 2, parallel: true) == got, "\(level)")
        }
    }

    @Test func fp16ConversionIsTheSameAtEveryLevel() {
        var rng = SplitMix(3)
        // Ordinary values, ties, subnormals, tiny values that flush to zero, and values that overflow.
        let x = rng.floats(1000).map { $0 * 3 } + [0, -0, 1.0009765625, 1.00146484375, 6e-8, 3e-5, -2e-8, 65504, 65520, 1e6, -1e6]
        var reference = [UInt16](repeating: 0, count: x.count)
        Kernels.toFP16(x, &reference, count: x.count, level: .generic)
        for (v, h) in zip(x, reference) { #expect(abs(Half.float(fromFP16: h) - v) <= max(abs(v) / 2048, 3e-8) || abs(v) >= 65520) }
        for level in CPULevel.supported {
            var out = [UInt16](repeating: 0, count: x.count)
            Kernels.toFP16(x, &out, count: x.count, level: level)
            #expect(out == reference, "\(level)")
        }
    }
}
