import Foundation
import TesseraFormats

/// What one model family's GGUF files say and how (DESIGN 3.2): the metadata keys and rules that fill in the decoder
/// description, and the tensor layout fix. Everything else is shared: one loader (`DecoderLoader`), one weights
/// struct, one forward. The rules are llama.cpp's (`src/models/<arch>.cpp`), which wrote and runs these files.
public struct ModelFamily: Sendable {
    public let architecture: String
    /// llama.cpp's converter interleaves each head's Q and K rows for its GPT-J-style RoPE in the `llama`
    /// architecture only; the others are stored in Hugging Face's rotate-half order.
    let interleavedQK: Bool
    let activation: ModelConfig.Activation
    /// Tensors the family always has (a file without them is refused, not run as something else).
    let qkNorm: Bool
    let sandwichNorms: Bool
    /// Multiplies token embeddings by √hidden (Gemma).
    let scalesEmbedding: Bool
    /// Reads `rope_freqs.weight` (Llama 3.1+).
    let ropeFrequencyFactors: Bool
    /// Head size is not hidden / heads in this family, so `attention.key_length` must say it.
    let needsHeadSize: Bool
    /// Layers slide with this period when the file gives a window but no pattern (Gemma 3: five of every six).
    let slidingPeriod: Int?
    /// Reads `final_logit_softcapping`.
    let softcapsLogits: Bool
    /// Queries are scaled by 1/√(hidden / heads) instead of 1/√headDim in files of this many layers: Gemma 3 27B's
    /// query_pre_attn_scalar, which no GGUF key carries (llama.cpp recognises the 27B by its 62 layers).
    let hiddenPerHeadScaleAtLayers: Int?

    public static let llama = ModelFamily(
        architecture: "llama", interleavedQK: true, activation: .silu, qkNorm: false, sandwichNorms: false,
        scalesEmbedding: false, ropeFrequencyFactors: true, needsHeadSize: false, slidingPeriod: nil, softcapsLogits: false,
        hiddenPerHeadScaleAtLayers: nil)
    public static let qwen2 = ModelFamily(
        architecture: "qwen2", interleavedQK: false, activation: .silu, qkNorm: false, sandwichNorms: false,
        scalesEmbedding: false, ropeFrequencyFactors: false, needsHeadSize: false, slidingPeriod: nil, softcapsLogits: false,
        hiddenPerHeadScaleAtLayers: nil)
    public static let qwen3 = ModelFamily(
        architecture: "qwen3", interleavedQK: false, activation: .silu, qkNorm: true, sandwichNorms: false,
        scalesEmbedding: false, ropeFrequencyFactors: false, needsHeadSize: true, slidingPeriod: nil, softcapsLogits: false,
        hiddenPerHeadScaleAtLayers: nil)
    public static let gemma3 = ModelFamily(
        architecture: "gemma3", interleavedQK: false, activation: .geluTanh, qkNorm: true, sandwichNorms: true,
        scalesEmbedding: true, ropeFrequencyFactors: false, needsHeadSize: true, slidingPeriod: 6, softcapsLogits: true,
        hiddenPerHeadScaleAtLayers: 62)

    public static let all: [String: ModelFamily] = Dictionary(
        uniqueKeysWithValues: [llama, qwen2, qwen3, gemma3].map { ($0.architecture, $0) })

    /// The description from the file's `{arch}.*` keys. Every value is range-checked so a hostile file cannot ask
    /// for absurd buffers, and a key whose value this family's forward would not honour is refused by name.
    func config(_ gguf: GGUFFile, vocab: Int) throws(ModelError) -> ModelConfig {
        let arch = architecture, path = gguf.path
        func refuse(_ key: String, _ why: String) -> ModelError { ModelError("\(path): \(arch).\(key) \(why)") }
        func value(_ key: String) -> GGUFValue? { gguf.metadata["\(arch).\(key)"] }
        func int(_ key: String, _ range: ClosedRange<Int>) throws(ModelError) -> Int {
            guard let raw = value(key) else { throw refuse(key, "is missing") }
            guard let v = raw.int else { throw refuse(key, "is not an integer") }
            guard range.contains(v) else { throw refuse(key, "= \(v) is outside \(range)") }
            return v
        }
        func float(_ key: String, _ range: ClosedRange<Double>) throws(ModelError) -> Float? {
            guard let raw = value(key) else { return nil }
            guard let v = raw.double ?? raw.int.map(Double.init), v.isFinite, range.contains(v) else {
                throw refuse(key, "= \(raw) is not a number in \(range)")
            }
            return Float(v)
        }
        let layers = try int("block_count", 1...1024), hidden = try int("embedding_length", 1...65536)
        let heads = try int("attention.head_count", 1...1024)
        let kvHeads = value("attention.head_count_kv") == nil ? heads : try int("attention.head_count_kv", 1...1024)
        guard heads % kvHeads == 0 else { throw refuse("attention.head_count_kv", "= \(kvHeads) does not divide \(heads) heads") }
        let headDim: Int
        if value("attention.key_length") != nil {
            headDim = try int("attention.key_length", 2...1024)
        } else if needsHeadSize {
            throw refuse("attention.key_length", "is missing (a \(arch) head size is not hidden / heads)")
        } else {
            guard hidden % heads == 0 else { throw refuse("attention.head_count", "= \(heads) does not divide a hidden size of \(hidden)") }
            headDim = hidden / heads
        }
        guard headDim % 2 == 0 else { throw refuse("attention.key_length", "= \(headDim) is odd; RoPE rotates pairs") }
        if value("attention.value_length") != nil, try int("attention.value_length", 1...1024) != headDim {
            throw refuse("attention.value_length", "differs from the key length \(headDim); not supported")
        }
        if value("rope.dimension_count") != nil, try int("rope.dimension_count", 0...1024) != headDim {
            throw refuse("rope.dimension_count", "is not the head size \(headDim): partial rotary embeddings are not supported")
        }
        guard let eps = try float("attention.layer_norm_rms_epsilon", 1e-12...1) else {
            throw refuse("attention.layer_norm_rms_epsilon", "is missing")
        }
        var c = ModelConfig(
            architecture: arch, name: gguf.metadata["general.basename"]?.string ?? gguf.metadata["general.name"]?.string ?? "",
            layers: layers, hidden: hidden, ffn: try int("feed_forward_length", 1...262_144), heads: heads, kvHeads: kvHeads,
            headDim: headDim, vocab: vocab, contextLength: try int("context_length", 1...(1 << 24)),
            ropeTheta: try float("rope.freq_base", 1...1e12) ?? 10000, rmsEps: eps)
        c.activation = activation
        c.qkNorm = qkNorm
        c.sandwichNorms = sandwichNorms
        c.embeddingScale = scalesEmbedding ? Float(hidden).squareRoot() : 1
        if softcapsLogits { c.logitSoftcap = try float("final_logit_softcapping", 0...1e6) ?? 0 }
        c.attentionScale = attentionScale(c)

        switch gguf.metadata["\(arch).rope.scaling.type"]?.string {
        case nil, "none": break
        case "linear":
            let factor = try float("rope.scaling.factor", 1e-6...1e6), legacy = try float("rope.scale_linear", 1e-6...1e6)
            c.rope.positionScale = 1 / (factor ?? legacy ?? 1)
        case let other?:
            throw refuse("rope.scaling.type", "= '\(other)' is not supported (supported: none, linear)")
        }
        if ropeFrequencyFactors, gguf.tensors["rope_freqs.weight"] != nil {
            let factors: [Float]
            do { factors = try gguf.floats("rope_freqs.weight") } catch { throw ModelError("\(path): rope_freqs.weight: \(error)") }
            guard factors.count == headDim / 2, factors.allSatisfy({ $0.isFinite && $0 > 0 }) else {
                throw ModelError("\(path): rope_freqs.weight has \(factors.count) values, expected \(headDim / 2) positive ones")
            }
            c.rope.frequencyFactors = factors
        }
        c.localRope = c.rope
        if let period = slidingPeriod, value("attention.sliding_window") != nil {
            c.slidingWindow = try int("attention.sliding_window", 0...(1 << 24))
            if c.slidingWindow > 0 {
                c.slidingLayers = try slidingPattern(value("attention.sliding_window_pattern"), layers: layers, period: period,
                                                     refuse: refuse)
                // The sliding layers keep their own base and no scaling, as llama.cpp's `freq_base_swa` (10000 by
                // default) and transformers' `rope_local_base_freq` do.
                c.localRope = ModelConfig.Rotary(theta: try float("rope.freq_base_swa", 1...1e12) ?? 10000)
            }
        }
        return c
    }

    private func attentionScale(_ c: ModelConfig) -> Float {
        let scalar = c.layers == hiddenPerHeadScaleAtLayers ? Float(c.hidden / c.heads) : Float(c.headDim)
        return 1 / scalar.squareRoot()
    }

    /// `attention.sliding_window_pattern` as an array of per-layer flags or a period (every period-th layer global),
    /// as llama.cpp's `load_swa_pattern` reads it.
    private func slidingPattern(_ raw: GGUFValue?, layers: Int, period: Int,
                                refuse: (String, String) -> ModelError) throws(ModelError) -> [Bool] {
        let key = "attention.sliding_window_pattern"
        switch raw {
        case nil: return (0..<layers).map { $0 % period < period - 1 }
        case .array(let values)?:
            let flags = values.compactMap(\.bool)
            guard flags.count == layers, values.count == layers else { throw refuse(key, "must hold \(layers) booleans") }
            return flags
        case let v?:
            guard let n = v.int, (0...1024).contains(n) else { throw refuse(key, "is neither a layer period nor per-layer flags") }
            return (0..<layers).map { n == 0 || $0 % n < n - 1 }
        }
    }
}
