import Foundation
import TesseraModel

/// Causal grouped-query attention of each sequence over its own rows, and its backward pass, as sgemms per head.
/// q [n, heads*hd], k and v [n, kvHeads*hd], rows already rotated.
enum Attention {
    /// out [n, heads*hd] and, per sequence, the softmax probabilities [heads, T, T] (zero above the diagonal).
    static func forward(q: [Float], k: [Float], v: [Float], rows: AdapterPass.Rows, config c: ModelConfig)
        -> ([Float], [[Float]]) {
        let hd = c.headDim, qW = c.heads * hd, kvW = c.kvHeads * hd, group = c.heads / c.kvHeads
        let scale = 1 / Float(hd).squareRoot()
        var out = [Float](repeating: 0, count: q.count)
        var all: [[Float]] = []
        for (i, r0) in rows.starts.enumerated() {
            let t = rows.lengths[i]
            var p = [Float](repeating: 0, count: c.heads * t * t)
            for h in 0..<c.heads {
                let g = h / group, ph = h * t * t
                p.withUnsafeMutableBufferPointer { pp in
                    let s = pp.baseAddress! + ph
                    q.withUnsafeBufferPointer { qp in
                        k.withUnsafeBufferPointer { kp in
                            Dense.gemm(false, true, m: t, n: t, k: hd, alpha: scale, qp.baseAddress! + r0 * qW + h * hd, lda: qW,
                                       kp.baseAddress! + r0 * kvW + g * hd, ldb: kvW, beta: 0, s, ldc: t)
                        }
                    }
                    softmaxCausal(s, t)
                    v.withUnsafeBufferPointer { vp in
                        out.withUnsafeMutableBufferPointer { op in
                            Dense.gemm(false, false, m: t, n: hd, k: t, s, lda: t, vp.baseAddress! + r0 * kvW + g * hd,
                                       ldb: kvW, beta: 0, op.baseAddress! + r0 * qW + h * hd, ldc: qW)
                        }
                    }
                }
            }
            all.append(p)
        }
        return (out, all)
    }

    /// Row i keeps columns 0...i, softmaxed; the rest become 0.
    private static func softmaxCausal(_ s: UnsafeMutablePointer<Float>, _ t: Int) {
        for i in 0..<t {
            let row = s + i * t
            var m = -Float.infinity
            for j in 0...i { m = max(m, row[j]) }
            var sum: Float = 0
            for j in 0...i {
                row[j] = exp(row[j] - m)
                sum += row[j]
            }
            let inv = 1 / sum
            for j in 0...i { row[j] *= inv }
            for j in (i + 1)..<t { row[j] = 0 }
        }
    }

    /// Gradients of q, k and v from the output's: dV = Pᵀ dO, dP = dO Vᵀ, dS = P ⊙ (dP − rowsum(P ⊙ dP)),
    /// dQ = scale · dS K, dK = scale · dSᵀ Q (summed over the heads that share a KV head).
    static func backward(q: [Float], k: [Float], v: [Float], probabilities: [[Float]], dOut: [Float],
                         rows: AdapterPass.Rows, config c: ModelConfig) -> ([Float], [Float], [Float]) {
        let hd = c.headDim, qW = c.heads * hd, kvW = c.kvHeads * hd, group = c.heads / c.kvHeads
        let scale = 1 / Float(hd).squareRoot()
        var dq = [Float](repeating: 0, count: q.count), dk = [Float](repeating: 0, count: k.count), dv = dk
        for (i, r0) in rows.starts.enumerated() {
            let t = rows.lengths[i]
            var ds = [Float](repeating: 0, count: t * t)
            for h in 0..<c.heads {
                let g = h / group
                probabilities[i].withUnsafeBufferPointer { pAll in
                    let p = pAll.baseAddress! + h * t * t
                    dOut.withUnsafeBufferPointer { dop in
                        let dO = dop.baseAddress! + r0 * qW + h * hd
                        dv.withUnsafeMutableBufferPointer { dvp in
                            Dense.gemm(true, false, m: t, n: hd, k: t, p, lda: t, dO, ldb: qW, beta: 1,
                                       dvp.baseAddress! + r0 * kvW + g * hd, ldc: kvW)
                        }
                        v.withUnsafeBufferPointer { vp in
                            Dense.gemm(false, true, m: t, n: t, k: hd, dO, lda: qW, vp.baseAddress! + r0 * kvW + g * hd,
                                       ldb: kvW, beta: 0, &ds, ldc: t)
                        }
                    }
                    for a in 0..<t {
                        var dot: Float = 0
                        for b in 0...a { dot += p[a * t + b] * ds[a * t + b] }
                        for b in 0...a { ds[a * t + b] = p[a * t + b] * (ds[a * t + b] - dot) }
                        for b in (a + 1)..<t { ds[a * t + b] = 0 }
                    }
                }
                k.withUnsafeBufferPointer { kp in
                    dq.withUnsafeMutableBufferPointer { dqp in
                        Dense.gemm(false, false, m: t, n: hd, k: t, alpha: scale, ds, lda: t, kp.baseAddress! + r0 * kvW + g * hd,
                                   ldb: kvW, beta: 0, dqp.baseAddress! + r0 * qW + h * hd, ldc: qW)
                    }
                }
                q.withUnsafeBufferPointer { qp in
                    dk.withUnsafeMutableBufferPointer { dkp in
                        Dense.gemm(true, false, m: t, n: hd, k: t, alpha: scale, ds, lda: t, qp.baseAddress! + r0 * qW + h * hd,
                                   ldb: qW, beta: 1, dkp.baseAddress! + r0 * kvW + g * hd, ldc: kvW)
                    }
                }
            }
        }
        return (dq, dk, dv)
    }
}
