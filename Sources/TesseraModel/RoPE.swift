import Foundation

/// Rotary position embedding in the Hugging Face `rotate_half` layout: dimension i pairs with i + headDim/2.
struct RoPE: Sendable {
    let headDim: Int
    /// theta^(-2i/headDim) for i < headDim/2, computed in fp32 like transformers does.
    let inverseFrequencies: [Float]

    init(headDim: Int, theta: Float) {
        self.headDim = headDim
        inverseFrequencies = (0..<headDim / 2).map { i in 1 / pow(theta, Float(2 * i) / Float(headDim)) }
    }

    /// Rotates every head of rows row..<row+rows of x ([_, heads*headDim]), which hold positions start, start+1, ...
    func apply(_ x: inout [Float], row first: Int, rows: Int, heads: Int, start: Int) {
        let half = headDim / 2
        var cosines = [Float](repeating: 0, count: half)
        var sines = cosines
        for r in 0..<rows {
            let pos = Float(start + r)
            for i in 0..<half {
                let angle = pos * inverseFrequencies[i]
                cosines[i] = cos(angle)
                sines[i] = sin(angle)
            }
            for h in 0..<heads {
                let base = ((first + r) * heads + h) * headDim
                for i in 0..<half {
                    let a = x[base + i], b = x[base + half + i]
                    x[base + i] = a * cosines[i] - b * sines[i]
                    x[base + half + i] = b * cosines[i] + a * sines[i]
                }
            }
        }
    }
}
