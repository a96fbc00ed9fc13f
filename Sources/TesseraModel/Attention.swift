import Foundation
import TesseraKernels

/// Causal grouped-query attention of new rows over a sequence's cached keys and values.
enum Attention {
    /// q: [rows, heads*headDim] for positions start..<start+rows; keys/values: [>= start+rows, kvHeads*headDim].
    /// out: [rows, heads*headDim].
    static func causal(q: [Float], rows: Int, start: Int, keys: [Float], values: [Float], config c: ModelConfig, out: inout [Float]) {
        let hd = c.headDim, group = c.heads / c.kvHeads
        let kvWidth = c.kvHeads * hd, qWidth = c.heads * hd
        let scale = 1 / Float(hd).squareRoot()
        var scores = [Float](repeating: 0, count: start + rows)
        q.withUnsafeBufferPointer { qp in
            keys.withUnsafeBufferPointer { kp in
                values.withUnsafeBufferPointer { vp in
                    out.withUnsafeMutableBufferPointer { op in
                        for r in 0..<rows {
                            let span = start + r + 1
                            for h in 0..<c.heads {
                                let kvh = h / group
                                let qRow = qp.baseAddress! + r * qWidth + h * hd
                                var maxScore = -Float.infinity
                                for p in 0..<span {
                                    let s = Kernels.dot(qRow, kp.baseAddress! + p * kvWidth + kvh * hd, n: hd) * scale
                                    scores[p] = s
                                    maxScore = max(maxScore, s)
                                }
                                var sum: Float = 0
                                for p in 0..<span {
                                    let e = exp(scores[p] - maxScore)
                                    scores[p] = e
                                    sum += e
                                }
                                let o = op.baseAddress! + r * qWidth + h * hd
                                o.update(repeating: 0, count: hd)
                                let inv = 1 / sum
                                for p in 0..<span {
                                    let w = scores[p] * inv
                                    let vRow = vp.baseAddress! + p * kvWidth + kvh * hd
                                    for d in 0..<hd { o[d] += w * vRow[d] }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
