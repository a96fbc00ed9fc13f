import Foundation

/// Rotary position embedding in the Hugging Face `rotate_half` layout: dimension i pairs with i + headDim/2.
public struct RoPE: Sendable {
    public let headDim: Int
    /// theta^(-2i/headDim) for i < headDim/2, computed in fp32 like transformers does.
    public let inverseFrequencies: [Float]

    /// Multiplies positions (linear scaling).
    public let positionScale: Float

    public init(headDim: Int, theta: Float) {
        self.init(headDim: headDim, ModelConfig.Rotary(theta: theta))
    }

    /// Llama 3.1's frequency factors divide the inverse frequencies, as llama.cpp's `rope_freqs` and transformers'
    /// "llama3" scaling do.
    public init(headDim: Int, _ rotary: ModelConfig.Rotary) {
        self.headDim = headDim
        positionScale = rotary.positionScale
        inverseFrequencies = (0..<headDim / 2).map { i in
            1 / pow(rotary.theta, Float(2 * i) / Float(headDim)) / (rotary.frequencyFactors?[i] ?? 1)
        }
    }

    /// Cosines and sines of positions start..<start+rows, [rows, headDim/2] each; computed once per forward pass
    /// and used by every layer.
    public struct Table: Sendable {
        public let cos: [Float]
        public let sin: [Float]
    }

    public func table(start: Int, rows: Int) -> Table {
        let half = headDim / 2
        var c = [Float](repeating: 0, count: rows * half), s = c
        for r in 0..<rows {
            let pos = Float(start + r) * positionScale
            for i in 0..<half {
                let angle = pos * inverseFrequencies[i]
                c[r * half + i] = cos(angle)
                s[r * half + i] = sin(angle)
            }
        }
        return Table(cos: c, sin: s)
    }

    /// Rotates every head of rows row..<row+rows of x ([_, heads*headDim]) by the table's positions (backwards with
    /// `inverse`).
    public func apply(_ x: inout [Float], row first: Int, rows: Int, heads: Int, table t: Table, inverse: Bool = false) {
        let half = headDim / 2
        x.withUnsafeMutableBufferPointer { xp in
            for r in 0..<rows {
                for h in 0..<heads {
                    let v = xp.baseAddress! + ((first + r) * heads + h) * headDim
                    for i in 0..<half {
                        // The inverse (the rotation's transpose) carries gradients back through RoPE.
                        let a = v[i], b = v[half + i], c = t.cos[r * half + i]
                        let s = inverse ? -t.sin[r * half + i] : t.sin[r * half + i]
                        v[i] = a * c - b * s
                        v[half + i] = b * c + a * s
                    }
                }
            }
        }
    }

    /// The distinct rotary embeddings of a description (the global layers', the sliding layers' own) and which one
    /// each layer uses, for the forward passes to compute each kind's table once per pass.
    public static func perLayer(_ c: ModelConfig) -> (kinds: [RoPE], ofLayer: [Int]) {
        let kinds = [c.rope, c.localRope].reduce(into: [ModelConfig.Rotary]()) { if !$0.contains($1) { $0.append($1) } }
        return (kinds.map { RoPE(headDim: c.headDim, $0) }, (0..<c.layers).map { l in kinds.firstIndex(of: c.rotary(layer: l))! })
    }
}
