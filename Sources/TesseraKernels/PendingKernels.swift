import Foundation
// TEMPORARY stand-ins until the kernels land (deleted then).
extension Kernels {
    public static func attention(
        q: UnsafePointer<Float>, segments: [AttentionSegment], heads: Int, kvHeads: Int, headDim: Int, scale: Float?, window: Int,
        out: UnsafeMutablePointer<Float>, level: CPULevel = .selected, pool: ComputePool = .shared
    ) {
        precondition(window == 0 && (scale == nil || abs(scale! - 1 / Float(headDim).squareRoot()) < 1e-7), "pending")
        attention(q: q, segments: segments, heads: heads, kvHeads: kvHeads, headDim: headDim, out: out, level: level, pool: pool)
    }
    public static func geluMultiply(_ gate: inout [Float], _ up: [Float], level: CPULevel = .selected) {
        for i in gate.indices { let x = gate[i]; gate[i] = 0.5 * x * (1 + tanh(0.7978845608 * (x + 0.044715 * x * x * x))) * up[i] }
    }
    public static func geluMultiply(_ g: UnsafePointer<Float>, _ u: UnsafePointer<Float>, into a: UnsafeMutablePointer<Float>, count n: Int, level: CPULevel = .selected) {
        for i in 0..<n { let x = g[i]; a[i] = 0.5 * x * (1 + tanh(0.7978845608 * (x + 0.044715 * x * x * x))) * u[i] }
    }
    public static func geluMultiplyBackward(_ g: UnsafePointer<Float>, _ u: UnsafePointer<Float>, _ da: UnsafePointer<Float>, dg: UnsafeMutablePointer<Float>, du: UnsafeMutablePointer<Float>, count n: Int, level: CPULevel = .selected) {
        for i in 0..<n {
            let x = g[i], k: Float = 0.7978845608, y = k * (x + 0.044715 * x * x * x), t = tanh(y)
            let gelu = 0.5 * x * (1 + t), d = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x)
            dg[i] = da[i] * u[i] * d
            du[i] = da[i] * gelu
        }
    }
}
