import Foundation
import TesseraKernels
import TesseraModel

/// The trainer's row-wise operations and their backward passes, in fp32 (DESIGN 3.12).
enum Elementwise {
    /// y = x / rms(x) * w per row of `width`; returns each row's 1/rms for the backward pass.
    static func rmsNorm(_ x: [Float], _ w: [Float], width: Int, eps: Float, _ y: inout [Float]) -> [Float] {
        let rows = x.count / width
        var inv = [Float](repeating: 0, count: rows)
        for r in 0..<rows {
            var ss: Float = 0
            for i in 0..<width { ss += x[r * width + i] * x[r * width + i] }
            inv[r] = 1 / (ss / Float(width) + eps).squareRoot()
        }
        scale(x, w, inv: inv, width: width, &y)
        return inv
    }

    /// The norm's output again from its input and the 1/rms it returned: the same values (backward recomputes it
    /// instead of keeping it).
    static func scaled(_ x: [Float], _ w: [Float], inv: [Float], width: Int) -> [Float] {
        var y = [Float](repeating: 0, count: x.count)
        scale(x, w, inv: inv, width: width, &y)
        return y
    }

    private static func scale(_ x: [Float], _ w: [Float], inv: [Float], width: Int, _ y: inout [Float]) {
        for r in inv.indices {
            let s = inv[r]
            for i in 0..<width { y[r * width + i] = x[r * width + i] * s * w[i] }
        }
    }

    /// dx += the gradient through y = x * s * w, s = 1/sqrt(mean(x²) + eps):
    /// dx_i = s·w_i·dy_i − x_i·s³·(Σ_j w_j·dy_j·x_j)/n.
    static func rmsNormBackward(_ x: [Float], _ w: [Float], inv: [Float], width: Int, _ dy: [Float], _ dx: inout [Float]) {
        for r in 0..<inv.count {
            let s = inv[r]
            var dot: Float = 0
            for i in 0..<width { dot += w[i] * dy[r * width + i] * x[r * width + i] }
            let c = s * s * s * dot / Float(width)
            for i in 0..<width { dx[r * width + i] += s * w[i] * dy[r * width + i] - x[r * width + i] * c }
        }
    }

    /// The gradient through the norm alone (a fresh array, where the caller has no residual to add it to).
    static func rmsNormBackward(_ x: [Float], _ w: [Float], inv: [Float], width: Int, _ dy: [Float]) -> [Float] {
        var dx = [Float](repeating: 0, count: x.count)
        rmsNormBackward(x, w, inv: inv, width: width, dy, &dx)
        return dx
    }

    /// z = cap · tanh(z / cap) in place; returns the tanh values (d/dz is 1 − tanh²).
    static func softcap(_ z: inout [Float], cap: Float) -> [Float] {
        let t = z.map { tanh($0 / cap) }
        for i in z.indices { z[i] = cap * t[i] }
        return t
    }

    /// act(g) · u for the family's gate activation.
    static func gated(_ activation: ModelConfig.Activation, _ g: [Float], _ u: [Float]) -> [Float] {
        switch activation {
        case .silu: siluMultiply(g, u)
        case .geluTanh:
            [Float](unsafeUninitializedCapacity: g.count) { a, count in
                Kernels.geluMultiply(g, u, into: a.baseAddress!, count: g.count)
                count = g.count
            }
        }
    }

    /// Its backward: (dg, du).
    static func gatedBackward(_ activation: ModelConfig.Activation, _ g: [Float], _ u: [Float], _ da: [Float]) -> (dg: [Float], du: [Float]) {
        switch activation {
        case .silu: return siluMultiplyBackward(g, u, da)
        case .geluTanh:
            var du = [Float](repeating: 0, count: g.count)
            let dg = [Float](unsafeUninitializedCapacity: g.count) { dg, count in
                du.withUnsafeMutableBufferPointer { Kernels.geluMultiplyBackward(g, u, da, dg: dg.baseAddress!, du: $0.baseAddress!, count: g.count) }
                count = g.count
            }
            return (dg, du)
        }
    }

    /// a = silu(g) · u (the kernels' SIMD exp, which `siluMultiplyBackward` differentiates).
    static func siluMultiply(_ g: [Float], _ u: [Float]) -> [Float] {
        [Float](unsafeUninitializedCapacity: g.count) { a, count in
            Kernels.siluMultiply(g, u, into: a.baseAddress!, count: g.count)
            count = g.count
        }
    }

    /// dg = da·u·σ(g)(1 + g(1 − σ(g))), du = da·silu(g).
    static func siluMultiplyBackward(_ g: [Float], _ u: [Float], _ da: [Float]) -> (dg: [Float], du: [Float]) {
        var du = [Float](repeating: 0, count: g.count)
        let dg = [Float](unsafeUninitializedCapacity: g.count) { dg, count in
            du.withUnsafeMutableBufferPointer { Kernels.siluMultiplyBackward(g, u, da, dg: dg.baseAddress!, du: $0.baseAddress!, count: g.count) }
            count = g.count
        }
        return (dg, du)
    }

    /// −log σ(z) = log(1 + exp(−z)), without overflow either way (the pairwise losses: DPO's, Bradley–Terry's).
    static func negativeLogSigmoid(_ z: Double) -> Double { z > 0 ? log1p(exp(-z)) : -z + log1p(exp(z)) }
}
