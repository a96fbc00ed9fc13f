import TesseraKernels
import TesseraModel
import TesseraTestSupport
import TesseraTraining

/// A tiny random Llama in F32 (or any type the kernels read), for gradient checks: big enough to have GQA, two
/// layers and a tied head, small enough for finite differences.
final class TinyBase: @unchecked Sendable {  // immutable after init
    let config = ModelConfig(layers: 2, hidden: 16, ffn: 24, heads: 4, kvHeads: 2, vocab: 32, contextLength: 64)
    private var buffers: [UnsafeMutablePointer<Float>] = []
    private(set) var weights: BaseWeights!

    init(seed: UInt64 = 1) {
        var rng = SplitMix(seed)
        let c = config
        func matrix(_ rows: Int, _ cols: Int) -> WeightMatrix {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: rows * cols)
            let scale = 1 / Float(cols).squareRoot()
            for i in 0..<(rows * cols) { p[i] = rng.float() * 2 * scale }
            buffers.append(p)
            return WeightMatrix(type: 0, rows: rows, columns: cols, base: UnsafeRawPointer(p))!
        }
        func norm() -> [Float] { (0..<c.hidden).map { _ in 1 + 0.3 * rng.float() } }
        let embedding = matrix(c.vocab, c.hidden)
        let layers = (0..<c.layers).map { _ in
            BaseWeights.Layer(attnNorm: norm(), ffnNorm: norm(), projections: Projection.allCases.map { p in
                let (o, i) = p.shape(c)
                return matrix(o, i)
            })
        }
        weights = BaseWeights(config: c, embedding: embedding, output: embedding, outputNorm: norm(), layers: layers, owner: self)
    }

    deinit { for b in buffers { b.deallocate() } }
}
