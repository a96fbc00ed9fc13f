import TesseraKernels

/// Applies the batch's LoRA and DoRA deltas after each projection (DESIGN 3.4). Rows are grouped by adapter: the
/// rows of every sequence using one adapter are gathered for a single shrink (A) and expand (B), then added back to
/// their own rows with their sequence's weight. The base weights are never touched, so rows of other adapters and
/// base rows share the same pass, and a row's numbers do not depend on which rows it was gathered with.
struct AdapterDeltas {
    /// The rows of one sequence that an adapter applies to.
    private struct Span {
        let row: Int
        let rows: Int
        let scale: Float
    }

    private struct Group {
        let weights: AdapterWeights
        let spans: [Span]
        var rows: Int { spans.reduce(0) { $0 + $1.rows } }
    }

    private let groups: [Group]
    private let config: ModelConfig
    /// Shrink and expand are small; below this many multiply-adds they run on the calling thread, since waking the
    /// pool would cost more than the work.
    private static let parallelMACs = 1 << 18
    private static let inline = ComputePool(threads: 1)

    init(batch: [SequenceInput], rowStart: [Int], rowCount: [Int], config: ModelConfig) {
        var order: [ObjectIdentifier] = []
        var spans: [ObjectIdentifier: (AdapterWeights, [Span])] = [:]
        for (i, s) in batch.enumerated() {
            for a in s.adapters where a.weights.hasDeltas {
                let id = ObjectIdentifier(a.weights)
                if spans[id] == nil {
                    order.append(id)
                    spans[id] = (a.weights, [])
                }
                spans[id]!.1.append(Span(row: rowStart[i], rows: rowCount[i], scale: a.scale))
            }
        }
        groups = order.map { Group(weights: spans[$0]!.0, spans: spans[$0]!.1) }
        self.config = config
    }

    /// output[rows] += scale * B(A input[rows]) for every adapter with a delta on (`layer`, `projection`);
    /// DoRA: output[rows] = doraScale * (output[rows] + B(A input[rows])).
    func apply(_ projection: Projection, layer: Int, input: [Float], output: inout [Float]) {
        guard !groups.isEmpty else { return }
        let (outputs, inputs) = projection.shape(config)
        for g in groups {
            guard let d = g.weights.deltas[layer][projection.rawValue] else { continue }
            let rows = g.rows
            var gathered = [Float](repeating: 0, count: g.spans.count == 1 ? 0 : rows * inputs)  // [rows, inputs]
            if g.spans.count > 1 {
                var at = 0
                for s in g.spans {
                    gathered.replaceSubrange(at..<(at + s.rows * inputs), with: input[(s.row * inputs)..<((s.row + s.rows) * inputs)])
                    at += s.rows * inputs
                }
            }
            var shrunk = [Float](repeating: 0, count: rows * d.rank)  // [rows, rank]
            var delta = [Float](repeating: 0, count: rows * outputs)  // [rows, outputs]
            let pool = rows * d.rank * (inputs + outputs) < Self.parallelMACs ? Self.inline : ComputePool.shared
            let source = g.spans.count == 1 ? input : gathered
            let first = g.spans.count == 1 ? g.spans[0].row : 0
            source.withUnsafeBufferPointer { x in
                Kernels.matmul(d.a, x.baseAddress! + first * inputs, tokens: rows, &shrunk, pool: pool)
            }
            Kernels.matmul(d.b, shrunk, tokens: rows, &delta, pool: pool)
            output.withUnsafeMutableBufferPointer { y in
                var at = 0
                for s in g.spans {
                    let base = y.baseAddress! + s.row * outputs
                    for r in 0..<s.rows {
                        let dr = (at + r) * outputs
                        if let scale = d.doraScale {
                            for j in 0..<outputs { base[r * outputs + j] = scale[j] * (base[r * outputs + j] + delta[dr + j]) }
                        } else {
                            for j in 0..<outputs { base[r * outputs + j] += s.scale * delta[dr + j] }
                        }
                    }
                    at += s.rows
                }
            }
        }
    }
}
