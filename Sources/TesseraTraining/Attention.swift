import Foundation
import TesseraModel

/// Causal grouped-query attention of each sequence over prefix tuning's entries (if any) and its own rows, and its
/// backward pass, as sgemms per head. q [n, heads*hd], k and v [n, kvHeads*hd], rows already rotated; prefix keys
/// and values [rows.prefix, kvHeads*hd], as a KV cache holds them (not rotated again).
enum Attention {
    /// Query rows per block: a block's products stop at its last row's key, so the causal mask's zeros above the
    /// diagonal are mostly not computed (5/8 of the full products at 256 rows).
    static let block = 64

    /// The blocks of t query rows: (first row, rows, keys up to the block's last row with the prefix's).
    private static func blocks(_ t: Int, prefix np: Int) -> [(a0: Int, rows: Int, keys: Int)] {
        stride(from: 0, to: t, by: block).map { a0 in (a0, min(block, t - a0), np + min(t, a0 + block)) }
    }

    /// A sequence's keys or values after the prefix's: [prefix + T, kvWidth], contiguous.
    private static func context(_ prefix: [Float], _ own: [Float], start r0: Int, rows t: Int, width: Int) -> [Float] {
        var out = prefix
        out.reserveCapacity(prefix.count + t * width)
        out.append(contentsOf: own[(r0 * width)..<((r0 + t) * width)])
        return out
    }

    /// out [n, heads*hd] and, per sequence, the softmax probabilities [heads, T, prefix + T] (zero where a row may
    /// not look: past its own position, or `window` or more positions back on a sliding-window layer).
    static func forward(q: [Float], k: [Float], v: [Float], prefixKeys: [Float], prefixValues: [Float],
                        rows: AdapterPass.Rows, window: Int, config c: ModelConfig) -> ([Float], [[Float]]) {
        let hd = c.headDim, qW = c.heads * hd, kvW = c.kvHeads * hd, group = c.heads / c.kvHeads, np = rows.prefix
        let scale = c.attentionScale
        var out = [Float](repeating: 0, count: q.count)
        var all: [[Float]] = []
        for (i, r0) in rows.starts.enumerated() {
            let t = rows.lengths[i], u = np + t
            let keys = context(prefixKeys, k, start: r0, rows: t, width: kvW)
            let values = context(prefixValues, v, start: r0, rows: t, width: kvW)
            var p = [Float](repeating: 0, count: c.heads * t * u)
            for h in 0..<c.heads {
                let g = h / group
                p.withUnsafeMutableBufferPointer { pp in
                    let s = pp.baseAddress! + h * t * u
                    for (a0, m, n) in blocks(t, prefix: np) {
                        let sb = s + a0 * u
                        q.withUnsafeBufferPointer { qp in
                            keys.withUnsafeBufferPointer { kp in
                                Dense.gemm(false, true, m: m, n: n, k: hd, alpha: scale, qp.baseAddress! + (r0 + a0) * qW + h * hd,
                                           lda: qW, kp.baseAddress! + g * hd, ldb: kvW, beta: 0, sb, ldc: u)
                            }
                        }
                        softmaxCausal(sb, firstRow: a0, rows: m, queries: t, columns: u, window: window)
                        values.withUnsafeBufferPointer { vp in
                            out.withUnsafeMutableBufferPointer { op in
                                Dense.gemm(false, false, m: m, n: hd, k: n, sb, lda: u, vp.baseAddress! + g * hd, ldb: kvW,
                                           beta: 0, op.baseAddress! + (r0 + a0) * qW + h * hd, ldc: qW)
                            }
                        }
                    }
                }
            }
            all.append(p)
        }
        return (out, all)
    }

    /// Query row i (of `queries`) keeps columns first...(columns - queries + i) (the prefix and its own rows up to
    /// itself; with a window, only the `window` positions ending at itself), softmaxed; the rest become 0. `rows`
    /// rows from `firstRow`, the first at `s`.
    private static func softmaxCausal(_ s: UnsafeMutablePointer<Float>, firstRow: Int, rows: Int, queries t: Int, columns u: Int,
                                      window: Int) {
        for r in 0..<rows {
            let i = firstRow + r, row = s + r * u, last = u - t + i
            let first = window > 0 ? max(0, last - window + 1) : 0
            var m = -Float.infinity
            for j in first...last { m = max(m, row[j]) }
            var sum: Float = 0
            for j in first...last {
                row[j] = exp(row[j] - m)
                sum += row[j]
            }
            let inv = 1 / sum
            for j in 0..<first { row[j] = 0 }
            for j in first...last { row[j] *= inv }
            for j in (last + 1)..<u { row[j] = 0 }
        }
    }

    struct Gradients {
        var dq: [Float], dk: [Float], dv: [Float]
        /// Prefix tuning's, summed over the sequences: [prefix, kvWidth].
        var dPrefixKeys: [Float], dPrefixValues: [Float]
    }

    /// Gradients of q, k, v and the prefix from the output's: dV = Pᵀ dO, dP = dO Vᵀ, dS = P ⊙ (dP − rowsum(P ⊙ dP)),
    /// dQ = scale · dS K, dK = scale · dSᵀ Q (summed over the heads that share a KV head).
    static func backward(q: [Float], k: [Float], v: [Float], prefixKeys: [Float], prefixValues: [Float],
                         probabilities: [[Float]], dOut: [Float], rows: AdapterPass.Rows, config c: ModelConfig) -> Gradients {
        let hd = c.headDim, qW = c.heads * hd, kvW = c.kvHeads * hd, group = c.heads / c.kvHeads, np = rows.prefix
        let scale = c.attentionScale
        var out = Gradients(dq: [Float](repeating: 0, count: q.count), dk: [Float](repeating: 0, count: k.count),
                            dv: [Float](repeating: 0, count: k.count), dPrefixKeys: [Float](repeating: 0, count: prefixKeys.count),
                            dPrefixValues: [Float](repeating: 0, count: prefixKeys.count))
        for (i, r0) in rows.starts.enumerated() {
            let t = rows.lengths[i], u = np + t
            let keys = context(prefixKeys, k, start: r0, rows: t, width: kvW)
            let values = context(prefixValues, v, start: r0, rows: t, width: kvW)
            var dKeys = [Float](repeating: 0, count: u * kvW), dValues = dKeys
            var ds = [Float](repeating: 0, count: block * u)  // one block of rows at a time
            for h in 0..<c.heads {
                let g = h / group
                for (a0, m, n) in blocks(t, prefix: np) {
                    probabilities[i].withUnsafeBufferPointer { pAll in
                        let p = pAll.baseAddress! + h * t * u + a0 * u
                        dOut.withUnsafeBufferPointer { dop in
                            let dO = dop.baseAddress! + (r0 + a0) * qW + h * hd
                            dValues.withUnsafeMutableBufferPointer { dvp in
                                Dense.gemm(true, false, m: n, n: hd, k: m, p, lda: u, dO, ldb: qW, beta: 1,
                                           dvp.baseAddress! + g * hd, ldc: kvW)
                            }
                            values.withUnsafeBufferPointer { vp in
                                Dense.gemm(false, true, m: m, n: n, k: hd, dO, lda: qW, vp.baseAddress! + g * hd, ldb: kvW,
                                           beta: 0, &ds, ldc: u)
                            }
                        }
                        for a in 0..<m {
                            let last = np + a0 + a
                            var dot: Float = 0
                            for b in 0...last { dot += p[a * u + b] * ds[a * u + b] }
                            for b in 0...last { ds[a * u + b] = p[a * u + b] * (ds[a * u + b] - dot) }
                            for b in (last + 1)..<n { ds[a * u + b] = 0 }
                        }
                    }
                    keys.withUnsafeBufferPointer { kp in
                        out.dq.withUnsafeMutableBufferPointer { dqp in
                            Dense.gemm(false, false, m: m, n: hd, k: n, alpha: scale, ds, lda: u, kp.baseAddress! + g * hd,
                                       ldb: kvW, beta: 0, dqp.baseAddress! + (r0 + a0) * qW + h * hd, ldc: qW)
                        }
                    }
                    q.withUnsafeBufferPointer { qp in
                        dKeys.withUnsafeMutableBufferPointer { dkp in
                            Dense.gemm(true, false, m: n, n: hd, k: m, alpha: scale, ds, lda: u,
                                       qp.baseAddress! + (r0 + a0) * qW + h * hd, ldb: qW, beta: 1, dkp.baseAddress! + g * hd, ldc: kvW)
                        }
                    }
                }
            }
            let split = np * kvW
            for j in 0..<split {
                out.dPrefixKeys[j] += dKeys[j]
                out.dPrefixValues[j] += dValues[j]
            }
            for j in 0..<(t * kvW) {
                out.dk[r0 * kvW + j] += dKeys[split + j]
                out.dv[r0 * kvW + j] += dValues[split + j]
            }
        }
        return out
    }
}
