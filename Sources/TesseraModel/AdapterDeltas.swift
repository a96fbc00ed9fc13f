import TesseraKernels

/// Applies the batch's LoRA and DoRA deltas after each projection, per sequence (DESIGN 3.4): the sequence's rows,
/// contiguous in the batch, go through a shrink (A) and an expand (B) of each of its adapters. The base weights are
/// never touched, so rows of other adapters and base rows share the same pass.
struct AdapterDeltas {
    private struct Group {
        let row: Int
        let rows: Int
        let adapters: [AppliedAdapter]
    }

    private let groups: [Group]
    private let config: ModelConfig

    init(batch: [SequenceInput], rowStart: [Int], rowCount: [Int], config: ModelConfig) {
        groups = batch.indices.compactMap { i in
            let withDeltas = batch[i].adapters.filter { $0.weights.hasDeltas }
            return withDeltas.isEmpty ? nil : Group(row: rowStart[i], rows: rowCount[i], adapters: withDeltas)
        }
        self.config = config
    }

    /// output[rows] += scale * B(A input[rows]) for every group with a delta on (`layer`, `projection`);
    /// DoRA: output[rows] = doraScale * (output[rows] + B(A input[rows])).
    func apply(_ projection: Projection, layer: Int, input: [Float], output: inout [Float]) {
        guard !groups.isEmpty else { return }
        let (outputs, inputs) = projection.shape(config)
        for g in groups {
            for applied in g.adapters {
                guard let d = applied.weights.deltas[layer][projection.rawValue] else { continue }
                var shrunk = [Float](repeating: 0, count: g.rows * d.rank)  // [rows, rank]
                var delta = [Float](repeating: 0, count: g.rows * outputs)  // [rows, outputs]
                input.withUnsafeBufferPointer { x in
                    Kernels.matmul(d.a, x.baseAddress! + g.row * inputs, tokens: g.rows, &shrunk)
                }
                Kernels.matmul(d.b, shrunk, tokens: g.rows, &delta)
                output.withUnsafeMutableBufferPointer { y in
                    let base = y.baseAddress! + g.row * outputs
                    if let scale = d.doraScale {
                        for r in 0..<g.rows {
                            for j in 0..<outputs { base[r * outputs + j] = scale[j] * (base[r * outputs + j] + delta[r * outputs + j]) }
                        }
                    } else {
                        for i in 0..<(g.rows * outputs) { base[i] += applied.scale * delta[i] }
                    }
                }
            }
        }
    }
}
