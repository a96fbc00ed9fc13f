import Foundation
import TesseraFormats
import TesseraKernels

/// The decoder of every family (DESIGN 3.2): runs any `ModelConfig` over `DecoderWeights` on the kernels, weights read
/// in place from a GGUF file or from the kernels' repacked copies.
public final class DecoderModel: LanguageModel, @unchecked Sendable {
    public var config: ModelConfig { weights.config }
    /// Everything the forward reads, which the trainer reads too (kept alive by this model).
    public let weights: DecoderWeights
    /// Each layer's rotary embedding (global or sliding), and the distinct ones.
    private let ropes: [RoPE]
    private let layerRope: [Int]
    /// Weights the loader copied out of the mapping (un-interleaved Q and K rows, repacked matrices; the weights'
    /// owner keeps them alive): what `weightBytes` counts as copies.
    private let owned: [OwnedWeights]

    /// `repack: false` keeps every matrix as the file has it (the trainer reads rows through the mapping, so a
    /// trainer beside a server adds no second copy of the base).
    public init(gguf: GGUFFile, family: ModelFamily, repack: Bool = true) throws(ModelError) {
        var loader = try DecoderLoader(gguf: gguf, family: family, repack: repack)
        let loaded = try loader.load()
        owned = loader.owned
        let c = loaded.config
        (ropes, layerRope) = RoPE.perLayer(c)
        weights = loaded
    }

    public var weightBytes: Int {
        let w = weights
        let mapped = [w.embedding] + (w.output.base == w.embedding.base ? [] : [w.output]) + w.layers.flatMap(\.projections)
        let inFile = mapped.filter { m in !owned.contains { UnsafeRawPointer($0.pointer) == m.base } }
        let vectors = w.layers.reduce(w.outputNorm.count + (w.outputBias?.count ?? 0)) { n, l in
            n + l.attnNorm.count + l.ffnNorm.count + (l.attnPostNorm?.count ?? 0) + (l.ffnPostNorm?.count ?? 0)
                + (l.qNorm?.count ?? 0) + (l.kNorm?.count ?? 0) + l.biases.reduce(0) { $0 + ($1?.count ?? 0) }
        }
        return owned.reduce(0) { $0 + $1.bytes } + inFile.reduce(0) { $0 + $1.rows * $1.rowBytes } + 4 * vectors
    }

    public func weight(layer: Int, _ projection: Projection) -> WeightMatrix {
        weights.layers[layer][projection]
    }

    public func check(adapters: [AppliedAdapter]) throws(ModelError) {
        try Self.checkAdapters(adapters, sequence: nil, config: config)
    }

    /// One adapter of any kind, or several that only add LoRA deltas (composition), shaped for this model.
    static func checkAdapters(_ adapters: [AppliedAdapter], sequence i: Int?, config c: ModelConfig) throws(ModelError) {
        guard adapters.count > 1 else {
            if let a = adapters.first { try checkShape(a.weights, sequence: i, config: c) }
            return
        }
        for a in adapters {
            try checkShape(a.weights, sequence: i, config: c)
            let dora = a.weights.deltas.joined().contains { $0?.isDoRA == true }
            guard a.weights.positions == 0, !dora else {
                throw ModelError("\(i.map { "sequence \($0): " } ?? "")only LoRA adapters compose; DoRA, prompt, P- and prefix tuning apply alone")
            }
        }
    }

    private static func checkShape(_ w: AdapterWeights, sequence i: Int?, config c: ModelConfig) throws(ModelError) {
        guard w.deltas.count == c.layers, w.deltas.allSatisfy({ $0.count == Projection.allCases.count }),
              w.virtualTokens.count == w.virtualTokenCount * c.hidden,
              w.prefix.count == w.prefixTokenCount * c.layers * 2 * c.kvHeads * c.headDim,
              w.virtualTokenCount == 0 || w.prefixTokenCount == 0 else {
            throw ModelError("\(i.map { "sequence \($0): " } ?? "")the adapter was not made for this model's shape")
        }
    }

    public func forward(_ batch: [SequenceInput], logits: inout [Float]) throws(ModelError) {
        let c = config
        guard !batch.isEmpty else {
            logits.removeAll(keepingCapacity: true)
            return
        }
        var rowStart: [Int] = []  // first batch row of each sequence
        var rowCount: [Int] = []  // its rows: virtual tokens (first pass of a prompt/P-tuning adapter), then tokens
        var n = 0
        var outputRows: [Int] = []
        var positions: [Int] = []  // each sequence's positions after this pass
        for (i, s) in batch.enumerated() {
            guard !s.tokens.isEmpty else { throw ModelError("sequence \(i) of the batch has no tokens") }
            try Self.checkAdapters(s.adapters, sequence: i, config: c)
            let fresh = s.cache.count == 0
            let virtual = fresh ? s.adapters.reduce(0) { $0 + $1.weights.virtualTokenCount } : 0
            let prefix = fresh ? s.adapters.reduce(0) { $0 + $1.weights.prefixTokenCount } : 0
            for t in s.tokens where t < 0 || Int(t) >= c.vocab {
                throw ModelError("token id \(t) is outside the vocabulary of \(c.vocab)")
            }
            for o in s.outputs where o < 0 || o >= s.tokens.count {
                throw ModelError("output row \(o) is outside 0..<\(s.tokens.count)")
            }
            for j in 0..<i where batch[j].cache === s.cache { throw ModelError("sequences \(j) and \(i) share a cache") }
            positions.append(s.cache.count + prefix + virtual + s.tokens.count)
            rowStart.append(n)
            rowCount.append(virtual + s.tokens.count)
            outputRows += s.outputs.map { n + virtual + $0 }
            n += virtual + s.tokens.count
        }
        for (i, s) in batch.enumerated() { try s.cache.reserve(positions[i]) }
        // Prefix-tuning entries take positions 0..<n of a fresh cache, before anything is computed (DESIGN 3.4).
        for s in batch where s.cache.count == 0 {
            for a in s.adapters where a.weights.prefixTokenCount > 0 {
                s.cache.fillPrefix(a.weights.prefix, count: a.weights.prefixTokenCount)
            }
        }
        let qWidth = c.heads * c.headDim, kvWidth = c.kvHeads * c.headDim

        var x = [Float](repeating: 0, count: n * c.hidden)  // [n, hidden] residual stream
        var xn = x  // [n, hidden] normalized
        var q = [Float](repeating: 0, count: n * qWidth)  // [n, heads*headDim]
        var k = [Float](repeating: 0, count: n * kvWidth)  // [n, kvHeads*headDim]
        var v = k
        var attn = q  // [n, heads*headDim]
        var proj = x  // [n, hidden]
        var gate = [Float](repeating: 0, count: n * c.ffn)  // [n, ffn]
        var up = gate

        let w = weights
        x.withUnsafeMutableBufferPointer { xp in
            var row = 0
            for (i, s) in batch.enumerated() {
                // Virtual tokens are embeddings already: PEFT passes them as inputs_embeds, past Gemma's scaling.
                if rowCount[i] > s.tokens.count, let a = s.adapters.first(where: { $0.weights.virtualTokenCount > 0 }) {
                    let values = a.weights.virtualTokens
                    (xp.baseAddress! + row * c.hidden).update(from: values, count: values.count)
                    row += a.weights.virtualTokenCount
                }
                for t in s.tokens {
                    let e = xp.baseAddress! + row * c.hidden
                    w.embedding.dequantizeRow(Int(t), into: e)
                    if c.embeddingScale != 1 { for j in 0..<c.hidden { e[j] *= c.embeddingScale } }
                    row += 1
                }
            }
        }
        // Positions' cosines and sines once per pass, per sequence and kind of layer.
        let ropeTables = ropes.map { rope in batch.enumerated().map { rope.table(start: $1.cache.count, rows: rowCount[$0]) } }
        let deltas = AdapterDeltas(batch: batch, rowStart: rowStart, rowCount: rowCount, config: c)
        for (l, b) in w.layers.enumerated() {
            rmsNorm(x, b.attnNorm, &xn, rows: n, width: c.hidden)
            q.withUnsafeMutableBufferPointer { qp in
                k.withUnsafeMutableBufferPointer { kp in
                    v.withUnsafeMutableBufferPointer { vp in
                        xn.withUnsafeBufferPointer { xp in
                            Kernels.matmul([(b[.q], qp.baseAddress!), (b[.k], kp.baseAddress!), (b[.v], vp.baseAddress!)], xp.baseAddress!, tokens: n)
                        }
                    }
                }
            }
            // Deltas before biases: DoRA rescales the product without the bias, as PEFT does.
            deltas.apply(.q, layer: l, input: xn, output: &q)
            deltas.apply(.k, layer: l, input: xn, output: &k)
            deltas.apply(.v, layer: l, input: xn, output: &v)
            if let bias = b.bias(.q) { Kernels.addBias(bias, to: &q) }
            if let bias = b.bias(.k) { Kernels.addBias(bias, to: &k) }
            if let bias = b.bias(.v) { Kernels.addBias(bias, to: &v) }
            if let qNorm = b.qNorm, let kNorm = b.kNorm {
                rmsNorm(&q, qNorm, rows: n * c.heads, width: c.headDim)
                rmsNorm(&k, kNorm, rows: n * c.kvHeads, width: c.headDim)
            }
            let rope = ropes[layerRope[l]], tables = ropeTables[layerRope[l]]
            var segments: [Kernels.AttentionSegment] = []
            for (i, s) in batch.enumerated() {
                let r0 = rowStart[i], rows = rowCount[i], start = s.cache.count
                rope.apply(&q, row: r0, rows: rows, heads: c.heads, table: tables[i])
                rope.apply(&k, row: r0, rows: rows, heads: c.kvHeads, table: tables[i])
                s.cache.append(layer: l, keys: k, values: v, row: r0, rows: rows)
                let (keys, values, blocks) = s.cache.layer(l)
                segments.append(.init(row: r0, rows: rows, start: start, keys: keys, values: values,
                                      type: s.cache.pool.type, blocks: blocks, blockTokens: s.cache.pool.blockTokens))
            }
            q.withUnsafeBufferPointer { qp in
                attn.withUnsafeMutableBufferPointer { ap in
                    Kernels.attention(
                        q: qp.baseAddress!, segments: segments, heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim,
                        scale: c.attentionScale, window: c.window(layer: l), out: ap.baseAddress!)
                }
            }
            matmul(b[.o], attn, &proj, rows: n)
            deltas.apply(.o, layer: l, input: attn, output: &proj)
            if let bias = b.bias(.o) { Kernels.addBias(bias, to: &proj) }
            if let post = b.attnPostNorm { rmsNorm(&proj, post, rows: n, width: c.hidden) }
            Kernels.add(proj, into: &x)
            rmsNorm(x, b.ffnNorm, &xn, rows: n, width: c.hidden)
            gate.withUnsafeMutableBufferPointer { gp in
                up.withUnsafeMutableBufferPointer { upp in
                    xn.withUnsafeBufferPointer { xp in
                        Kernels.matmul([(b[.gate], gp.baseAddress!), (b[.up], upp.baseAddress!)], xp.baseAddress!, tokens: n)
                    }
                }
            }
            deltas.apply(.gate, layer: l, input: xn, output: &gate)
            deltas.apply(.up, layer: l, input: xn, output: &up)
            if let bias = b.bias(.gate) { Kernels.addBias(bias, to: &gate) }
            if let bias = b.bias(.up) { Kernels.addBias(bias, to: &up) }
            switch c.activation {
            case .silu: Kernels.siluMultiply(&gate, up)
            case .geluTanh: Kernels.geluMultiply(&gate, up)
            }
            matmul(b[.down], gate, &proj, rows: n)
            deltas.apply(.down, layer: l, input: gate, output: &proj)
            if let bias = b.bias(.down) { Kernels.addBias(bias, to: &proj) }
            if let post = b.ffnPostNorm { rmsNorm(&proj, post, rows: n, width: c.hidden) }
            Kernels.add(proj, into: &x)
        }
        for (i, s) in batch.enumerated() { s.cache.count += rowCount[i] }

        var last = [Float](repeating: 0, count: outputRows.count * c.hidden)  // [outputs, hidden]
        x.withUnsafeBufferPointer { xp in
            last.withUnsafeMutableBufferPointer { lp in
                for (j, row) in outputRows.enumerated() {
                    Kernels.rmsNorm(xp.baseAddress! + row * c.hidden, weight: w.outputNorm, lp.baseAddress! + j * c.hidden, n: c.hidden, eps: c.rmsEps)
                }
            }
        }
        // [outputs, vocab]; the head writes every element, so rows kept from the last pass need no clearing.
        let size = outputRows.count * c.vocab
        if logits.count > size { logits.removeLast(logits.count - size) }
        if logits.count < size { logits.append(contentsOf: repeatElement(0, count: size - logits.count)) }
        if !outputRows.isEmpty { matmul(w.output, last, &logits, rows: outputRows.count) }
        if let bias = w.outputBias { Kernels.addBias(bias, to: &logits) }
        if c.logitSoftcap > 0 {
            let cap = c.logitSoftcap
            for i in logits.indices { logits[i] = cap * tanh(logits[i] / cap) }
        }
    }

    /// y = rmsNorm(x) · w per row of `width`.
    private func rmsNorm(_ x: [Float], _ w: [Float], _ y: inout [Float], rows: Int, width: Int) {
        let eps = config.rmsEps
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
                for r in 0..<rows { Kernels.rmsNorm(xp.baseAddress! + r * width, weight: w, yp.baseAddress! + r * width, n: width, eps: eps) }
            }
        }
    }

    /// The same in place (the kernel reads each value before it writes it).
    private func rmsNorm(_ y: inout [Float], _ w: [Float], rows: Int, width: Int) {
        let eps = config.rmsEps
        y.withUnsafeMutableBufferPointer { yp in
            for r in 0..<rows { Kernels.rmsNorm(yp.baseAddress! + r * width, weight: w, yp.baseAddress! + r * width, n: width, eps: eps) }
        }
    }

    private func matmul(_ w: WeightMatrix, _ x: [Float], _ y: inout [Float], rows: Int) {
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in Kernels.matmul(w, xp.baseAddress!, tokens: rows, yp.baseAddress!) }
        }
    }
}
