import TesseraKernels

/// Applies the batch's LoRA and DoRA deltas after each projection (DESIGN 3.4), in one kernel call per projection
/// for every adapter in the batch (the SGMV idea of Punica and S-LoRA): each sequence's rows get their own adapters'
/// deltas, in the sequence's adapter order, so base rows and rows of any number of adapters share one pass and a
/// row's numbers never depend on the other rows. The base weights are never touched.
struct AdapterDeltas {
    private struct Sequence {
        let rows: Range<Int>
        let adapters: [AppliedAdapter]
    }

    private let sequences: [Sequence]
    private let config: ModelConfig
    /// Below this many multiply-adds the deltas run on the calling thread: waking the pool would cost more.
    private static let parallelMACs = 1 << 18
    /// Rows per piece of work, so one long prompt's rows are shared by the threads too.
    private static let pieceRows = 16

    init(batch: [SequenceInput], rowStart: [Int], rowCount: [Int], config: ModelConfig) {
        sequences = batch.indices.compactMap { i in
            let adapters = batch[i].adapters.filter(\.weights.hasDeltas)
            return adapters.isEmpty ? nil : Sequence(rows: rowStart[i]..<(rowStart[i] + rowCount[i]), adapters: adapters)
        }
        self.config = config
    }

    /// output[r] += weight * B(A input[r]) for each adapter of r's sequence with a delta on (`layer`, `projection`);
    /// DoRA: output[r] = doraScale * (output[r] + B(A input[r])).
    func apply(_ projection: Projection, layer: Int, input: [Float], output: inout [Float]) {
        var items: [Kernels.LoRAItem] = []
        var pieces: [Kernels.LoRAPiece] = []
        var work = 0
        let (outputs, inputs) = projection.shape(config)
        for s in sequences {
            let first = items.count
            for a in s.adapters {
                guard let d = a.weights.deltas[layer][projection.rawValue] else { continue }
                items.append(d.item(rows: s.rows, weight: a.scale))
                work += s.rows.count * d.rank * (inputs + outputs)
            }
            guard items.count > first else { continue }
            for r in stride(from: s.rows.lowerBound, to: s.rows.upperBound, by: Self.pieceRows) {
                pieces.append(.init(items: first..<items.count, rows: r..<min(r + Self.pieceRows, s.rows.upperBound)))
            }
        }
        guard !items.isEmpty else { return }
        input.withUnsafeBufferPointer { x in
            output.withUnsafeMutableBufferPointer { y in
                Kernels.lora(items: items, pieces: pieces, x: x.baseAddress!, inputs: inputs, y: y.baseAddress!, outputs: outputs,
                             parallel: work >= Self.parallelMACs)
            }
        }
    }
}
