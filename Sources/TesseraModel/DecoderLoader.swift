import TesseraFormats
import TesseraKernels

/// Reads any family's tensors into `DecoderWeights`, checking every shape against the description: llama.cpp's
/// tensor names, which are the same in every family it converts.
struct DecoderLoader {
    /// What the weights' views point into: the mapping and the copies.
    final class Storage: Sendable {
        let gguf: GGUFFile
        let copies: [OwnedWeights]
        init(gguf: GGUFFile, copies: [OwnedWeights]) {
            self.gguf = gguf
            self.copies = copies
        }
    }

    let gguf: GGUFFile
    let family: ModelFamily
    let config: ModelConfig
    /// Copy matrices into the layout the selected kernels prefer (the trainer reads them through the mapping
    /// instead, so a trainer beside a server adds no second copy of the base).
    let repack: Bool
    /// Weights copied out of the mapping: un-interleaved Q and K rows, repacked matrices.
    private(set) var owned: [OwnedWeights] = []
    private var copied: Set<String> = []

    init(gguf: GGUFFile, family: ModelFamily, repack: Bool) throws(ModelError) {
        self.gguf = gguf
        self.family = family
        self.repack = repack
        let embedding: WeightMatrix
        do { embedding = try gguf.matrix("token_embd.weight") } catch { throw ModelError("\(error)") }
        config = try family.config(gguf, vocab: embedding.rows)
    }

    private func error(_ e: Error) -> ModelError { e as? ModelError ?? ModelError("\(e)") }

    func matrix(_ name: String, _ rows: Int, _ cols: Int) throws(ModelError) -> WeightMatrix {
        let m: WeightMatrix
        do { m = try gguf.matrix(name) } catch { throw ModelError("\(error)") }
        guard m.rows == rows, m.columns == cols else {
            throw ModelError("\(gguf.path): tensor '\(name)' is [\(m.rows), \(m.columns)], expected [\(rows), \(cols)]")
        }
        return m
    }

    func vector(_ name: String, _ count: Int) throws(ModelError) -> [Float] {
        do {
            let t = try gguf.info(name)
            guard t.elementCount == count else {
                throw ModelError("\(gguf.path): tensor '\(name)' has \(t.elementCount) values, expected \(count)")
            }
            let v = try gguf.floats(name)
            guard v.allSatisfy(\.isFinite) else { throw ModelError("\(gguf.path): tensor '\(name)' holds a non-finite value") }
            return v
        } catch {
            throw self.error(error)
        }
    }

    func optionalVector(_ name: String, _ count: Int) throws(ModelError) -> [Float]? {
        gguf.tensors[name] == nil ? nil : try vector(name, count)
    }

    /// The matrix in the layout the selected kernels prefer; the stored copy's pages are released after loading.
    mutating func fast(_ m: WeightMatrix, _ name: String) -> WeightMatrix {
        guard repack, let (r, buffer) = m.repacked() else { return m }
        owned.append(buffer)
        copied.insert(name)
        return r
    }

    /// Q or K in Hugging Face's row order, then the kernels' layout.
    mutating func rotated(_ name: String, rows: Int, heads: Int) throws(ModelError) -> WeightMatrix {
        let m = try matrix(name, rows, config.hidden)
        guard family.interleavedQK else { return fast(m, name) }
        let (hf, buffer) = Self.unpermuteRoPERows(m, heads: heads)
        copied.insert(name)  // copied by the un-permutation in any case
        let r = fast(hf, name)
        if r.base == hf.base { owned.append(buffer) }
        return r
    }

    mutating func load() throws(ModelError) -> DecoderWeights {
        let c = config, qWidth = c.heads * c.headDim, kvWidth = c.kvHeads * c.headDim
        var embedding = try matrix("token_embd.weight", c.vocab, c.hidden)
        let outputNorm = try vector("output_norm.weight", c.hidden)
        // The head gets the kernels' layout too. A tied head's repacked copy serves the embedding lookups as well
        // (rows dequantize from either layout to the same values), so the stored table's pages are released: one
        // copy of the largest matrix, not two (178 MB of Gemma 3 270M's 262k-row table).
        let tied = gguf.tensors["output.weight"] == nil
        var output = tied ? embedding : try matrix("output.weight", c.vocab, c.hidden)
        if repack, let (r, buffer) = output.repacked() {
            output = r
            owned.append(buffer)
            copied.insert(tied ? "token_embd.weight" : "output.weight")
            if tied { embedding = r }
        }
        var layers: [DecoderWeights.Layer] = []
        for l in 0..<c.layers {
            let p = "blk.\(l)."
            func required(_ name: String, _ count: Int, _ needed: Bool) throws(ModelError) -> [Float]? {
                guard needed else { return nil }
                return try vector(p + name, count)
            }
            let q = try rotated(p + "attn_q.weight", rows: qWidth, heads: c.heads)
            let k = try rotated(p + "attn_k.weight", rows: kvWidth, heads: c.kvHeads)
            let v = fast(try matrix(p + "attn_v.weight", kvWidth, c.hidden), p + "attn_v.weight")
            let o = fast(try matrix(p + "attn_output.weight", c.hidden, qWidth), p + "attn_output.weight")
            let gate = fast(try matrix(p + "ffn_gate.weight", c.ffn, c.hidden), p + "ffn_gate.weight")
            let up = fast(try matrix(p + "ffn_up.weight", c.ffn, c.hidden), p + "ffn_up.weight")
            let down = fast(try matrix(p + "ffn_down.weight", c.hidden, c.ffn), p + "ffn_down.weight")
            // Biases are optional in every family (Qwen 2 has q, k and v's); an interleaved family's q and k biases
            // would need the rows' permutation too, and no converter writes them.
            var biases: [[Float]?] = []
            for (proj, name, width) in [(Projection.q, "attn_q", qWidth), (.k, "attn_k", kvWidth), (.v, "attn_v", kvWidth),
                                        (.o, "attn_output", c.hidden), (.gate, "ffn_gate", c.ffn), (.up, "ffn_up", c.ffn),
                                        (.down, "ffn_down", c.hidden)] {
                let bias = try optionalVector(p + name + ".bias", width)
                if bias != nil, family.interleavedQK, proj == .q || proj == .k {
                    throw ModelError("\(gguf.path): tensor '\(p)\(name).bias' is not supported in a \(c.architecture) file")
                }
                biases.append(bias)
            }
            layers.append(DecoderWeights.Layer(
                attnNorm: try vector(p + "attn_norm.weight", c.hidden),
                attnPostNorm: try required("post_attention_norm.weight", c.hidden, c.sandwichNorms),
                ffnNorm: try vector(p + "ffn_norm.weight", c.hidden),
                ffnPostNorm: try required("post_ffw_norm.weight", c.hidden, c.sandwichNorms),
                qNorm: try required("attn_q_norm.weight", c.headDim, c.qkNorm),
                kNorm: try required("attn_k_norm.weight", c.headDim, c.qkNorm),
                projections: [q, k, v, o, gate, up, down], biases: biases))
        }
        let outputBias = try optionalVector("output.bias", c.vocab)
        for name in copied { gguf.release(name) }
        return DecoderWeights(config: c, embedding: embedding, output: output, outputNorm: outputNorm, outputBias: outputBias,
                              layers: layers, owner: Storage(gguf: gguf, copies: owned))
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
}
