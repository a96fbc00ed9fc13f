import TesseraKernels
import TesseraModel
import TesseraTestSupport
import TesseraTraining

/// A tiny random Llama in F32 (or any type the kernels read), for gradient checks: big enough to have GQA, two
/// layers and a tied head, small enough for finite differences. `everyFeature` turns on every choice the decoder
/// description has beyond Llama's (Gemma's and Qwen's), so each has its backward checked.
final class TinyBase: @unchecked Sendable {  // immutable after init
    let config: ModelConfig
    private var buffers: [UnsafeMutablePointer<Float>] = []
    private(set) var weights: DecoderWeights!

    /// Every feature at once: q/k norms, sandwich norms, GELU, biases on every projection, a head size that is not
    /// hidden / heads, its own attention scale, a sliding first layer with its own RoPE, scaled positions and
    /// frequency factors on the global one, embedding scale and logit soft-capping.
    static func everyFeatureConfig() -> ModelConfig {
        var c = ModelConfig(architecture: "test", layers: 2, hidden: 16, ffn: 24, heads: 4, kvHeads: 2, headDim: 6, vocab: 32,
                            contextLength: 64)
        c.activation = .geluTanh
        c.qkNorm = true
        c.sandwichNorms = true
        c.embeddingScale = 2.5
        c.logitSoftcap = 2
        c.attentionScale = 0.3
        c.rope = ModelConfig.Rotary(theta: 10000, positionScale: 0.5, frequencyFactors: [1, 2, 8])
        c.localRope = ModelConfig.Rotary(theta: 100)
        c.slidingWindow = 3
        c.slidingLayers = [true, false]
        return c
    }

    init(seed: UInt64 = 1, everyFeature: Bool = false) {
        var rng = SplitMix(seed)
        config = everyFeature ? Self.everyFeatureConfig()
            : ModelConfig(layers: 2, hidden: 16, ffn: 24, heads: 4, kvHeads: 2, vocab: 32, contextLength: 64)
        let c = config
        func matrix(_ rows: Int, _ cols: Int) -> WeightMatrix {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: rows * cols)
            let scale = 1 / Float(cols).squareRoot()
            for i in 0..<(rows * cols) { p[i] = rng.float() * 2 * scale }
            buffers.append(p)
            return WeightMatrix(type: 0, rows: rows, columns: cols, base: UnsafeRawPointer(p))!
        }
        func norm(_ n: Int = c.hidden) -> [Float] { (0..<n).map { _ in 1 + 0.3 * rng.float() } }
        func optionalNorm(_ on: Bool, _ n: Int = c.hidden) -> [Float]? { on ? norm(n) : nil }
        let embedding = matrix(c.vocab, c.hidden)
        let layers = (0..<c.layers).map { _ in
            DecoderWeights.Layer(
                attnNorm: norm(), attnPostNorm: optionalNorm(c.sandwichNorms), ffnNorm: norm(),
                ffnPostNorm: optionalNorm(c.sandwichNorms), qNorm: optionalNorm(c.qkNorm, c.headDim),
                kNorm: optionalNorm(c.qkNorm, c.headDim),
                projections: Projection.allCases.map { p in
                    let (o, i) = p.shape(c)
                    return matrix(o, i)
                },
                biases: Projection.allCases.map { p in everyFeature ? (0..<p.shape(c).outputs).map { _ in 0.2 * rng.float() } : nil })
        }
        weights = DecoderWeights(config: c, embedding: embedding, output: embedding, outputNorm: norm(), layers: layers, owner: self)
    }

    deinit { for b in buffers { b.deallocate() } }
}
