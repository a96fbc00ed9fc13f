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
    /// pool would cost more than the work. Several adapters share the pool, one adapter per thread.
    private static let parallelMACs = 1 << 18


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
    /// DoRA: output[rows] = doraScale * (output[rows] + B(A input[rows])). Several adapters' deltas are computed in
    /// parallel, one adapter per thread at a time (each small enough for one core), then added in a fixed order.
    func apply(_ projection: Projection, layer: Int, input: [Float], output: inout [Float]) {
        let active = groups.compactMap { g in g.weights.deltas[layer][projection.rawValue].map { (g, $0) } }
        guard !active.isEmpty else { return }
        let (outputs, inputs) = projection.shape(config)
        var deltas = active.map { [Float](repeating: 0, count: $0.0.rows * outputs) }  // [rows, outputs] each
        let single = active.count == 1
        input.withUnsafeBufferPointer { x in
            nonisolated(unsafe) let x = x
            deltas.withUnsafeMutableBufferPointer { out in
                nonisolated(unsafe) let out = out
                func compute(_ k: Int, pooled: Bool) {
                    let (g, d) = active[k]
                    out[k].withUnsafeMutableBufferPointer { delta in
                        Self.delta(d, group: g, input: x.baseAddress!, inputs: inputs, into: delta.baseAddress!, pooled: pooled)
                    }
                }
                if single {
                    let (g, d) = active[0]
                    compute(0, pooled: g.rows * d.rank * (inputs + outputs) >= Self.parallelMACs)
                } else {
                    ComputePool.shared.run { thread, threads in
                        for k in stride(from: thread, to: active.count, by: threads) { compute(k, pooled: false) }
                    }
                }
            }
        }
        output.withUnsafeMutableBufferPointer { y in
            for (k, (g, d)) in active.enumerated() {
                var at = 0
                for s in g.spans {
                    let base = y.baseAddress! + s.row * outputs
                    for r in 0..<s.rows {
                        let dr = (at + r) * outputs
                        if let scale = d.doraScale {
                            for j in 0..<outputs { base[r * outputs + j] = scale[j] * (base[r * outputs + j] + deltas[k][dr + j]) }
                        } else {
                            for j in 0..<outputs { base[r * outputs + j] += s.scale * deltas[k][dr + j] }
                        }
                    }
                    at += s.rows
                }
            }
        }
    }

    /// B(A x) for the group's rows (gathered when they come from several sequences) into `delta` [rows, outputs].
    private static func delta(
        _ d: LowRankDelta, group g: Group, input: UnsafePointer<Float>, inputs: Int, into delta: UnsafeMutablePointer<Float>,
        pooled: Bool
    ) {
        func product(_ w: WeightMatrix, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
            if pooled { Kernels.matmul(w, x, tokens: g.rows, y) } else { Kernels.matmulHere(w, x, tokens: g.rows, y) }
        }
        let rows = g.rows
        var gathered = [Float](repeating: 0, count: g.spans.count == 1 ? 0 : rows * inputs)  // [rows, inputs]
        if g.spans.count > 1 {
            gathered.withUnsafeMutableBufferPointer { out in
                var at = 0
                for s in g.spans {
                    (out.baseAddress! + at).update(from: input + s.row * inputs, count: s.rows * inputs)
                    at += s.rows * inputs
                }
            }
        }
        var shrunk = [Float](repeating: 0, count: rows * d.rank)  // [rows, rank]
        shrunk.withUnsafeMutableBufferPointer { t in
            if g.spans.count == 1 {
                product(d.a, input + g.spans[0].row * inputs, t.baseAddress!)
            } else {
                gathered.withUnsafeBufferPointer { product(d.a, $0.baseAddress!, t.baseAddress!) }
            }
            product(d.b, t.baseAddress!, delta)
        }
    }
}
