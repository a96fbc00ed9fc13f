import Foundation
import TesseraFormats
import TesseraKernels

/// Llama-family decoder (RMSNorm, GQA attention with rotate-half RoPE, SwiGLU), weights read in place from a GGUF file.
public final class LlamaModel: LanguageModel, @unchecked Sendable {
    public let config: ModelConfig
    let gguf: GGUFFile
    let embedding: WeightMatrix  // [vocab, hidden]
    let output: WeightMatrix  // [vocab, hidden]; the embedding when tied
    let outputNorm: [Float]  // [hidden]
    let blocks: [Block]
    let rope: RoPE
    /// Weights the model copied out of the mapping: Q and K rows re-ordered to the Hugging Face layout (DESIGN 3.2),
    /// and matrices repacked for the selected kernels. Everything else is read in place.
    private let owned: [OwnedWeights]

    struct Block {
        let attnNorm: [Float]  // [hidden]
        let q: WeightMatrix  // [heads*headDim, hidden]
        let k: WeightMatrix  // [kvHeads*headDim, hidden]
        let v: WeightMatrix  // [kvHeads*headDim, hidden]
        let o: WeightMatrix  // [hidden, heads*headDim]
        let ffnNorm: [Float]  // [hidden]
        let gate: WeightMatrix  // [ffn, hidden]
        let up: WeightMatrix  // [ffn, hidden]
        let down: WeightMatrix  // [hidden, ffn]
    }

    /// `repack: false` keeps every matrix as the file has it (the trainer reads rows through the mapping, so a
    /// trainer beside a server adds no second copy of the base).
    public init(gguf: GGUFFile, repack: Bool = true) throws(ModelError) {
        self.gguf = gguf
        do {
            let embd = try gguf.matrix("token_embd.weight")
            let config = try ModelConfig(gguf: gguf, vocab: embd.rows)
            self.config = config
            let c = config
            func matrix(_ name: String, _ rows: Int, _ cols: Int) throws -> WeightMatrix {
                let m = try gguf.matrix(name)
                guard m.rows == rows, m.columns == cols else {
                    throw ModelError("\(gguf.path): tensor '\(name)' is [\(m.rows), \(m.columns)], expected [\(rows), \(cols)]")
                }
                return m
            }
            func vector(_ name: String) throws -> [Float] {
                let t = try gguf.info(name)
                guard t.elementCount == c.hidden else {
                    throw ModelError("\(gguf.path): tensor '\(name)' has \(t.elementCount) values, expected \(c.hidden)")
                }
                return try gguf.floats(name)
            }
            embedding = try matrix("token_embd.weight", c.vocab, c.hidden)
            outputNorm = try vector("output_norm.weight")
            var owned: [OwnedWeights] = []
            var copied: Set<String> = []
            // The head gets the kernels' layout too; a tied head's stored copy stays mapped for embedding lookups.
            let tied = gguf.tensors["output.weight"] == nil
            let head = tied ? embedding : try matrix("output.weight", c.vocab, c.hidden)
            if repack, let (r, buffer) = head.repacked() {
                output = r
                owned.append(buffer)
                if !tied { copied.insert("output.weight") }
            } else {
                output = head
            }
            /// The matrix in the layout the selected kernels prefer; the stored copy's pages are released after.
            func fast(_ m: WeightMatrix, _ name: String) -> WeightMatrix {
                guard repack, let (r, buffer) = m.repacked() else { return m }
                owned.append(buffer)
                copied.insert(name)
                return r
            }
            var blocks: [Block] = []
            for l in 0..<c.layers {
                let p = "blk.\(l)."
                let q = try matrix(p + "attn_q.weight", c.heads * c.headDim, c.hidden)
                let k = try matrix(p + "attn_k.weight", c.kvHeads * c.headDim, c.hidden)
                let (qHF, qBuf) = Self.unpermuteRoPERows(q, heads: c.heads)
                let (kHF, kBuf) = Self.unpermuteRoPERows(k, heads: c.kvHeads)
                let qFast = fast(qHF, p + "attn_q.weight"), kFast = fast(kHF, p + "attn_k.weight")
                copied.formUnion([p + "attn_q.weight", p + "attn_k.weight"])  // copied by the un-permutation in any case
                if qFast.base == qHF.base { owned.append(qBuf) }
                if kFast.base == kHF.base { owned.append(kBuf) }
                blocks.append(Block(
                    attnNorm: try vector(p + "attn_norm.weight"),
                    q: qFast, k: kFast,
                    v: fast(try matrix(p + "attn_v.weight", c.kvHeads * c.headDim, c.hidden), p + "attn_v.weight"),
                    o: fast(try matrix(p + "attn_output.weight", c.hidden, c.heads * c.headDim), p + "attn_output.weight"),
                    ffnNorm: try vector(p + "ffn_norm.weight"),
                    gate: fast(try matrix(p + "ffn_gate.weight", c.ffn, c.hidden), p + "ffn_gate.weight"),
                    up: fast(try matrix(p + "ffn_up.weight", c.ffn, c.hidden), p + "ffn_up.weight"),
                    down: fast(try matrix(p + "ffn_down.weight", c.hidden, c.ffn), p + "ffn_down.weight")))
            }
            self.blocks = blocks
            self.owned = owned
            for name in copied { gguf.release(name) }
            rope = RoPE(headDim: c.headDim, theta: c.ropeTheta)
        } catch let e as ModelError {
            throw e
        } catch {
            throw ModelError("\(error)")
        }
    }

    /// llama.cpp's converter interleaves the two halves of every head's rows for its RoPE: GGUF row `2j+h` of a head
    /// is Hugging Face row `h*headDim/2 + j`. Rows are quantized independently, so whole rows move.
    static func unpermuteRoPERows(_ m: WeightMatrix, heads: Int) -> (WeightMatrix, OwnedWeights) {
        let buf = OwnedWeights(bytes: m.rows * m.rowBytes)
        let headRows = m.rows / heads, half = headRows / 2
        for head in 0..<heads {
            for j in 0..<half {
                for h in 0..<2 {
                    let src = m.row(head * headRows + 2 * j + h)
                    let dst = buf.pointer + (head * headRows + h * half + j) * m.rowBytes
                    dst.copyMemory(from: src, byteCount: m.rowBytes)
                }
            }
        }
        return (WeightMatrix(type: m.type, rows: m.rows, columns: m.columns, base: UnsafeRawPointer(buf.pointer))!, buf)
    }

    public var weightBytes: Int {
        let mapped = [embedding] + (output.base == embedding.base ? [] : [output])
            + blocks.flatMap { [$0.q, $0.k, $0.v, $0.o, $0.gate, $0.up, $0.down] }
        let inFile = mapped.filter { m in !owned.contains { UnsafeRawPointer($0.pointer) == m.base } }
        return owned.reduce(0) { $0 + $1.bytes } + inFile.reduce(0) { $0 + $1.rows * $1.rowBytes }
            + 4 * config.hidden * (2 * config.layers + 1)  // norms
    }

    public func weight(layer: Int, _ projection: Projection) -> WeightMatrix {
        let b = blocks[layer]
        switch projection {
        case .q: return b.q
        case .k: return b.k
        case .v: return b.v
        case .o: return b.o
        case .gate: return b.gate
        case .up: return b.up
        case .down: return b.down
        }
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

    public func forward(_ batch: [SequenceInput]) throws(ModelError) -> [Float] {
        let c = config
        guard !batch.isEmpty else { return [] }
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

        x.withUnsafeMutableBufferPointer { xp in
            var row = 0
            for (i, s) in batch.enumerated() {
                if rowCount[i] > s.tokens.count, let a = s.adapters.first(where: { $0.weights.virtualTokenCount > 0 }) {
                    let values = a.weights.virtualTokens
                    (xp.baseAddress! + row * c.hidden).update(from: values, count: values.count)
                    row += a.weights.virtualTokenCount
                }
                for t in s.tokens {
                    embedding.dequantizeRow(Int(t), into: xp.baseAddress! + row * c.hidden)
                    row += 1
                }
            }
        }
        let ropeTables = batch.enumerated().map { rope.table(start: $1.cache.count, rows: rowCount[$0]) }
        let deltas = AdapterDeltas(batch: batch, rowStart: rowStart, rowCount: rowCount, config: c)
        for (l, b) in blocks.enumerated() {
            rmsNorm(x, b.attnNorm, &xn, rows: n)
            q.withUnsafeMutableBufferPointer { qp in
                k.withUnsafeMutableBufferPointer { kp in
                    v.withUnsafeMutableBufferPointer { vp in
                        xn.withUnsafeBufferPointer { xp in
                            Kernels.matmul([(b.q, qp.baseAddress!), (b.k, kp.baseAddress!), (b.v, vp.baseAddress!)], xp.baseAddress!, tokens: n)
                        }
                    }
                }
            }
            deltas.apply(.q, layer: l, input: xn, output: &q)
            deltas.apply(.k, layer: l, input: xn, output: &k)
            deltas.apply(.v, layer: l, input: xn, output: &v)
            var segments: [Kernels.AttentionSegment] = []
            for (i, s) in batch.enumerated() {
                let r0 = rowStart[i], rows = rowCount[i], start = s.cache.count
                rope.apply(&q, row: r0, rows: rows, heads: c.heads, table: ropeTables[i])
                rope.apply(&k, row: r0, rows: rows, heads: c.kvHeads, table: ropeTables[i])
                s.cache.append(layer: l, keys: k, values: v, row: r0, rows: rows)
                let (keys, values, blocks) = s.cache.layer(l)
                segments.append(.init(row: r0, rows: rows, start: start, keys: keys, values: values, blocks: blocks,
                                      blockTokens: s.cache.pool.blockTokens))
            }
            q.withUnsafeBufferPointer { qp in
                attn.withUnsafeMutableBufferPointer { ap in
                    Kernels.attention(
                        q: qp.baseAddress!, segments: segments, heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim,
                        out: ap.baseAddress!)
                }
            }
            matmul(b.o, attn, &proj, rows: n)
            deltas.apply(.o, layer: l, input: attn, output: &proj)
            Kernels.add(proj, into: &x)
            rmsNorm(x, b.ffnNorm, &xn, rows: n)
            gate.withUnsafeMutableBufferPointer { gp in
                up.withUnsafeMutableBufferPointer { upp in
                    xn.withUnsafeBufferPointer { xp in
                        Kernels.matmul([(b.gate, gp.baseAddress!), (b.up, upp.baseAddress!)], xp.baseAddress!, tokens: n)
                    }
                }
            }
            deltas.apply(.gate, layer: l, input: xn, output: &gate)
            deltas.apply(.up, layer: l, input: xn, output: &up)
            Kernels.siluMultiply(&gate, up)
            matmul(b.down, gate, &proj, rows: n)
            deltas.apply(.down, layer: l, input: gate, output: &proj)
            Kernels.add(proj, into: &x)
        }
        for (i, s) in batch.enumerated() { s.cache.count += rowCount[i] }

        var last = [Float](repeating: 0, count: outputRows.count * c.hidden)  // [outputs, hidden]
        x.withUnsafeBufferPointer { xp in
            last.withUnsafeMutableBufferPointer { lp in
                for (j, row) in outputRows.enumerated() {
                    Kernels.rmsNorm(xp.baseAddress! + row * c.hidden, weight: outputNorm, lp.baseAddress! + j * c.hidden, n: c.hidden, eps: c.rmsEps)
                }
            }
        }
        var logits = [Float](repeating: 0, count: outputRows.count * c.vocab)  // [outputs, vocab]
        if !outputRows.isEmpty { matmul(output, last, &logits, rows: outputRows.count) }
        return logits
    }

    private func rmsNorm(_ x: [Float], _ w: [Float], _ y: inout [Float], rows: Int) {
        let h = config.hidden
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
                for r in 0..<rows { Kernels.rmsNorm(xp.baseAddress! + r * h, weight: w, yp.baseAddress! + r * h, n: h, eps: config.rmsEps) }
            }
        }
    }

    private func matmul(_ w: WeightMatrix, _ x: [Float], _ y: inout [Float], rows: Int) {
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in Kernels.matmul(w, xp.baseAddress!, tokens: rows, yp.baseAddress!) }
        }
    }
}
