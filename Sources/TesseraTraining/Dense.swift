import COpenBLAS
import TesseraKernels

/// fp32 products with a frozen base matrix W [outputs, inputs] over tiles of its rows, dequantized as they are
/// needed and never all at once (DESIGN 3.12: the base stays quantized), through OpenBLAS's sgemm.
enum Dense {
    /// Rows per dequantized tile: 256 rows of the widest input (1536) are 1.5 MiB, which stays in L2/L3 while sgemm
    /// reads it.
    static let tileRows = 256

    /// The compute threads OpenBLAS uses for the trainer's products.
    static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(max(1, n))) }

    /// y [tokens, outputs] = x [tokens, inputs] · Wᵀ (overwrites y).
    static func forward(_ w: WeightMatrix, _ x: UnsafePointer<Float>, tokens: Int, _ y: UnsafeMutablePointer<Float>) {
        guard tokens > 0 else { return }
        withTiles(of: w) { r0, rows, tile in
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(tokens), Int32(rows), Int32(w.columns), 1,
                        x, Int32(w.columns), tile, Int32(w.columns), 0, y + r0, Int32(w.rows))
        }
    }

    /// dx [tokens, inputs] += dy [tokens, outputs] · W: the gradient that flows back through a frozen matrix.
    static func backward(_ w: WeightMatrix, _ dy: UnsafePointer<Float>, tokens: Int, _ dx: UnsafeMutablePointer<Float>) {
        guard tokens > 0 else { return }
        withTiles(of: w) { r0, rows, tile in
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(tokens), Int32(w.columns), Int32(rows), 1,
                        dy + r0, Int32(w.rows), tile, Int32(w.columns), 1, dx, Int32(w.columns))
        }
    }

    /// ‖W_o + scale · (B A)_o‖ for every row o: DoRA's weight norm, B [outputs, rank], A [rank, inputs].
    static func rowNorms(_ w: WeightMatrix, plus scale: Float, _ b: [Float], _ a: [Float], rank: Int) -> [Float] {
        var norms = [Float](repeating: 0, count: w.rows)
        withTiles(of: w) { r0, rows, tile in
            let t = UnsafeMutablePointer(mutating: tile)
            b.withUnsafeBufferPointer { bp in
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(w.columns), Int32(rank), scale,
                            bp.baseAddress! + r0 * rank, Int32(rank), a, Int32(w.columns), 1, t, Int32(w.columns))
            }
            for r in 0..<rows {
                var s: Float = 0
                for i in 0..<w.columns { s += t[r * w.columns + i] * t[r * w.columns + i] }
                norms[r0 + r] = s.squareRoot()
            }
        }
        return norms
    }

    private static func withTiles(of w: WeightMatrix, _ body: (Int, Int, UnsafePointer<Float>) -> Void) {
        let tile = UnsafeMutablePointer<Float>.allocate(capacity: min(tileRows, w.rows) * w.columns)
        defer { tile.deallocate() }
        var r0 = 0
        while r0 < w.rows {
            let rows = min(tileRows, w.rows - r0)
            for r in 0..<rows { w.dequantizeRow(r0 + r, into: tile + r * w.columns) }
            body(r0, rows, tile)
            r0 += rows
        }
    }

    /// c [m, n] = alpha · a [m, k] · b [k, n] (+ beta · c), row-major, with optional transposes and leading dimensions.
    static func gemm(
        _ transA: Bool, _ transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
        _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
        beta: Float, _ c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, n > 0, k > 0 else { return }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

/// The trainer's compute threads (OpenBLAS's).
public enum TrainingThreads {
    public static func set(_ n: Int) { Dense.setThreads(n) }
}
