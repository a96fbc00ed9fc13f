import CKernels
import Dispatch

/// Entry points of the compute kernels. Work is split over a few threads by rows of the weight matrix,
/// so each thread reads a disjoint part of the weights once per call.
public enum Kernels {
    /// Threads used for one matmul. Dispatch's worker threads are not Swift's cooperative pool (DESIGN 3.7).
    nonisolated(unsafe) public static var threads = max(1, System.coreCount)

    /// y[t][r] = W[r] · x[t] for every token row t.
    /// - x: [tokens, W.columns], row stride `W.columns`
    /// - y: [tokens, W.rows], row stride `W.rows`
    public static func matmul(_ w: WeightMatrix, _ x: UnsafePointer<Float>, tokens: Int, _ y: UnsafeMutablePointer<Float>) {
        let chunks = w.rows >= 64 ? min(threads, w.rows / 32) : 1
        let perChunk = (w.rows + chunks - 1) / chunks
        // The pointers are only read (x, w) or written at disjoint rows (y) by the chunks.
        nonisolated(unsafe) let x = x, y = y
        let run: @Sendable (Int) -> Void = { c in
            let r0 = c * perChunk, r1 = min(w.rows, r0 + perChunk)
            guard r0 < r1 else { return }
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: w.columns)
            defer { scratch.deallocate() }
            tk_matmul_rows_generic(
                w.type, w.base, w.rowBytes, Int64(w.columns), Int64(r0), Int64(r1),
                x, Int64(w.columns), Int64(tokens), y, Int64(w.rows), scratch)
        }
        if chunks == 1 { run(0) } else { DispatchQueue.concurrentPerform(iterations: chunks, execute: run) }
    }

    /// y = x / rms(x) * weight, over `n` values.
    public static func rmsNorm(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, n: Int, eps: Float) {
        tk_rmsnorm_generic(x, weight, y, Int64(n), eps)
    }

    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, n: Int) -> Float {
        tk_dot_f32_generic(a, b, Int64(n))
    }
}
