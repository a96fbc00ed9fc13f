import CKernels

/// Entry points of the compute kernels, at the level `CPULevel.selected` (or one given for tests).
public enum Kernels {
    /// y[t][r] = W[r] · x[t] for every token row t. Rows of W are shared out to the compute threads,
    /// so each weight is read once per call whatever the number of tokens.
    /// - x: [tokens, W.columns], row stride `W.columns`
    /// - y: [tokens, W.rows], row stride `W.rows`
    public static func matmul(
        _ w: WeightMatrix, _ x: UnsafePointer<Float>, tokens: Int, _ y: UnsafeMutablePointer<Float>,
        level: CPULevel = .selected, activations: ActivationPrecision = .selected, pool: ComputePool = .shared
    ) {
        matmul([(w, y)], x, tokens: tokens, level: level, activations: activations, pool: pool)
    }

    /// Several matmuls of the same input (Q, K and V; gate and up) in one dispatch to the threads.
    public static func matmul(
        _ jobs: [(WeightMatrix, UnsafeMutablePointer<Float>)], _ x: UnsafePointer<Float>, tokens: Int,
        level: CPULevel = .selected, activations: ActivationPrecision = .selected, pool: ComputePool = .shared
    ) {
        let ops = level.ops
        nonisolated(unsafe) let x = x, jobs = jobs
        guard let columns = jobs.first?.0.columns else { return }
        // Rows of all jobs form one range, claimed in chunks by whichever thread is free. Few tokens make a row
        // cheap, so chunks grow to keep claims rare and the row prefetch running. Multiples of 32: the int8 kernels
        // work on pairs of 16-row panels.
        let chunk = tokens >= 16 ? 32 : 64
        var firstRow: [Int] = []
        var total = 0
        for (w, _) in jobs {
            precondition(w.columns == jobs[0].0.columns, "matmuls sharing an input need the same width")
            firstRow.append(total)
            total += (w.rows + chunk - 1) / chunk * chunk
        }
        let counter = UnsafeMutablePointer<Int64>.allocate(capacity: 1)
        counter.initialize(to: 0)
        defer { counter.deallocate() }
        nonisolated(unsafe) let shared = counter
        // Panel-layout weights take the activations quantized once here, for all threads (DESIGN 3.3); with the
        // residual unless plain int8 was asked for.
        let int8 = jobs.contains { $0.0.isPanelLayout }
        let residual = int8 && activations != .int8
        let blocks = columns / 32
        let q = UnsafeMutablePointer<Int8>.allocate(capacity: int8 ? 2 * tokens * columns : 0)
        let dx = UnsafeMutablePointer<Float>.allocate(capacity: int8 ? 2 * tokens * blocks : 0)
        defer {
            q.deallocate()
            dx.deallocate()
        }
        nonisolated(unsafe) let q1 = q, q2 = residual ? q + tokens * columns : nil, d = dx, s = dx + tokens * blocks
        if int8 { ops.pointee.quantize_rows(x, Int64(columns), Int64(tokens), Int64(columns), q1, q2, d, s) }
        // Layouts stored above their signed values take the activations' sums of 16 off their products: once here.
        let halfSums = jobs.contains { tk_needs_half_sums($0.0.type) != 0 }
        let hs = UnsafeMutablePointer<Int32>.allocate(capacity: halfSums ? tokens * columns / 16 : 0)
        defer { hs.deallocate() }
        if halfSums { tk_half_sums(q1, q2, Int64(tokens), Int64(columns), hs) }
        nonisolated(unsafe) let sums: UnsafeMutablePointer<Int32>? = halfSums ? hs : nil
        pool.run { _, _ in
            Scratch.withFloats(Int(TK_MATMUL_SCRATCH_FLOATS) * columns) { scratch in
                var job = 0
                while true {
                    let start = Int(tk_claim(shared, Int64(chunk)))
                    guard start < total else { return }
                    while job + 1 < jobs.count && firstRow[job + 1] <= start { job += 1 }
                    let (w, y) = jobs[job]
                    let r0 = start - firstRow[job], r1 = min(w.rows, r0 + chunk)
                    guard r0 < r1 else { continue }
                    if w.isPanelLayout {
                        ops.pointee.matmul_q8_rows(
                            w.type, w.base, Int64(w.columns), Int64(r0), Int64(r1), q1, q2, d, s, sums, Int64(tokens), y,
                            Int64(w.rows))
                        continue
                    }
                    ops.pointee.matmul_rows(
                        w.type, w.base, w.rowBytes, Int64(w.columns), Int64(r0), Int64(r1),
                        x, Int64(w.columns), Int64(tokens), y, Int64(w.rows), scratch)
                }
            }
        }
    }

    /// One sequence's part of a batched attention call.
    public struct AttentionSegment: @unchecked Sendable {
        /// First row of this sequence in the batch's q and out.
        public var row: Int
        /// New positions start..<start+rows.
        public var rows: Int
        public var start: Int
        /// Rows of kvHeads*headDim values of `type`. Position p is row blocks[p / blockTokens] * blockTokens +
        /// p % blockTokens (a paged cache), or row p without a block table.
        public var keys: UnsafeRawPointer
        public var values: UnsafeRawPointer
        public var type: KVCacheType
        public var blocks: UnsafePointer<Int32>?
        public var blockTokens: Int

        public init(row: Int, rows: Int, start: Int, keys: UnsafeRawPointer, values: UnsafeRawPointer,
                    type: KVCacheType, blocks: UnsafePointer<Int32>? = nil, blockTokens: Int = 0) {
            self.row = row
            self.rows = rows
            self.start = start
            self.keys = keys
            self.values = values
            self.type = type
            self.blocks = blocks
            self.blockTokens = blockTokens
        }

        /// Keys and values in fp32.
        public init(row: Int, rows: Int, start: Int, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
                    blocks: UnsafePointer<Int32>? = nil, blockTokens: Int = 0) {
            self.init(row: row, rows: rows, start: start, keys: UnsafeRawPointer(keys), values: UnsafeRawPointer(values),
                      type: .fp32, blocks: blocks, blockTokens: blockTokens)
        }
    }

    /// Causal grouped-query attention of every segment's new rows over its own cached keys and values, in one
    /// dispatch; (row, KV head) items are dealt to the threads in turn, since later rows see more positions (with a
    /// window they see at most `window`, and dealing in turn stays balanced).
    /// - q, out: [total rows, heads*headDim]
    /// - scale: the scores' factor, q·k · scale; nil is 1/√headDim.
    /// - window: 0 for full causal attention; otherwise the row at position P sees only positions
    ///   max(0, P − window + 1)...P (Hugging Face's sliding window, llama.cpp's LLAMA_SWA_TYPE_STANDARD).
    public static func attention(
        q: UnsafePointer<Float>, segments: [AttentionSegment], heads: Int, kvHeads: Int, headDim: Int,
        scale: Float? = nil, window: Int = 0,
        out: UnsafeMutablePointer<Float>, level: CPULevel = .selected, pool: ComputePool = .shared
    ) {
        precondition(window >= 0, "a window is a number of positions, or 0 for none")
        let attend = tk_attention_for(level.ops, Int32(heads), Int32(kvHeads), Int32(headDim))!
        // The same float as the kernels' own 1/sqrtf(hd) before scale was a parameter: existing callers' numbers stay.
        let scale = scale ?? 1 / Float(headDim).squareRoot()
        nonisolated(unsafe) let q = q, out = out
        var firstItem: [Int] = []  // first global item of each segment
        var items = 0
        for s in segments {
            firstItem.append(items)
            items += s.rows * kvHeads
        }
        let longest = segments.map { $0.start + $0.rows }.max() ?? 0
        let positions = window > 0 ? min(longest, window) : longest  // the most any row sees
        let width = heads * headDim
        pool.run { thread, threads in
            guard thread < items else { return }
            Scratch.withFloats((heads / kvHeads) * positions) { scores in
                var seg = 0
                for item in stride(from: thread, to: items, by: threads) {
                    while seg + 1 < segments.count && firstItem[seg + 1] <= item { seg += 1 }
                    let s = segments[seg], local = item - firstItem[seg]
                    attend(q + s.row * width, Int64(s.start), s.keys, s.values, s.type.kernelType, s.blocks,
                           Int64(s.blockTokens), Int32(heads), Int32(kvHeads), Int32(headDim), scale, Int64(window),
                           Int64(local), Int64(local + 1), 1, out + s.row * width, scores)
                }
            }
        }
    }

    /// Attention for one sequence: q, out [rows, heads*headDim]; keys, values [start+rows, kvHeads*headDim].
    public static func attention(
        q: UnsafePointer<Float>, rows: Int, start: Int, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
        heads: Int, kvHeads: Int, headDim: Int, scale: Float? = nil, window: Int = 0, out: UnsafeMutablePointer<Float>,
        level: CPULevel = .selected, pool: ComputePool = .shared
    ) {
        attention(
            q: q, segments: [AttentionSegment(row: 0, rows: rows, start: start, keys: keys, values: values)],
            heads: heads, kvHeads: kvHeads, headDim: headDim, scale: scale, window: window, out: out, level: level,
            pool: pool)
    }

    /// y = x / rms(x) * weight, over `n` values.
    public static func rmsNorm(
        _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, n: Int, eps: Float,
        level: CPULevel = .selected
    ) {
        level.ops.pointee.rmsnorm(x, weight, y, Int64(n), eps)
    }
}

extension Kernels {
    /// y[r] += bias for every row of bias.count values (memory-bound; the compiler's vectorization is enough).
    public static func addBias(_ bias: [Float], to y: inout [Float]) {
        let width = bias.count
        precondition(width > 0 && y.count % width == 0)
        bias.withUnsafeBufferPointer { bp in
            y.withUnsafeMutableBufferPointer { yp in
                for r in 0..<(yp.count / width) { tk_add(bp.baseAddress!, yp.baseAddress! + r * width, Int64(width)) }
            }
        }
    }

    /// y += x, elementwise.
    public static func add(_ x: [Float], into y: inout [Float]) {
        precondition(x.count == y.count)
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in tk_add(xp.baseAddress!, yp.baseAddress!, Int64(xp.count)) }
        }
    }

    /// The trainer's SwiGLU, on the calling thread: a = SiLU(g) · u with g kept (its backward needs it).
    public static func siluMultiply(_ g: UnsafePointer<Float>, _ u: UnsafePointer<Float>, into a: UnsafeMutablePointer<Float>,
                                    count n: Int, level: CPULevel = .selected) {
        a.update(from: g, count: n)
        level.ops.pointee.silu_mul(a, u, Int64(n))
    }

    /// Its backward: dg = da · u · σ(g)(1 + g(1 − σ(g))), du = da · SiLU(g), with the same exp as the forward kernel.
    public static func siluMultiplyBackward(
        _ g: UnsafePointer<Float>, _ u: UnsafePointer<Float>, _ da: UnsafePointer<Float>, dg: UnsafeMutablePointer<Float>,
        du: UnsafeMutablePointer<Float>, count n: Int, level: CPULevel = .selected
    ) {
        level.ops.pointee.silu_mul_backward(g, u, da, dg, du, Int64(n))
    }

    /// GeGLU's product on the calling thread: a = GELU(g) · u with g kept, GELU the tanh approximation
    /// (gelu_pytorch_tanh, ggml_gelu).
    public static func geluMultiply(_ g: UnsafePointer<Float>, _ u: UnsafePointer<Float>, into a: UnsafeMutablePointer<Float>,
                                    count n: Int, level: CPULevel = .selected) {
        a.update(from: g, count: n)
        level.ops.pointee.gelu_mul(a, u, Int64(n))
    }

    /// Its backward: dg = da · u · GELU′(g), du = da · GELU(g), with the same exp as the forward kernel.
    public static func geluMultiplyBackward(
        _ g: UnsafePointer<Float>, _ u: UnsafePointer<Float>, _ da: UnsafePointer<Float>, dg: UnsafeMutablePointer<Float>,
        du: UnsafeMutablePointer<Float>, count n: Int, level: CPULevel = .selected
    ) {
        level.ops.pointee.gelu_mul_backward(g, u, da, dg, du, Int64(n))
    }

    /// One row of the trainer's cross-entropy: log Σ exp(x), and with a non-zero `scale` x becomes softmax(x) · scale.
    public static func logSoftmaxRow(_ x: UnsafeMutablePointer<Float>, count n: Int, scale: Float, level: CPULevel = .selected) -> Double {
        level.ops.pointee.log_softmax_row(x, Int64(n), scale)
    }

    /// gate = SiLU(gate) * up, elementwise.
    public static func siluMultiply(_ gate: inout [Float], _ up: [Float], level: CPULevel = .selected) {
        gated(&gate, up, level.ops.pointee.silu_mul)
    }

    /// gate = GELU(gate) * up, elementwise (GeGLU, Gemma's MLP), GELU the tanh approximation.
    public static func geluMultiply(_ gate: inout [Float], _ up: [Float], level: CPULevel = .selected) {
        gated(&gate, up, level.ops.pointee.gelu_mul)
    }

    /// An elementwise gate kernel over the compute threads.
    private static func gated(
        _ gate: inout [Float], _ up: [Float],
        _ kernel: @convention(c) (UnsafeMutablePointer<Float>?, UnsafePointer<Float>?, Int64) -> Void
    ) {
        precondition(gate.count == up.count)
        gate.withUnsafeMutableBufferPointer { gp in
            up.withUnsafeBufferPointer { upp in
                nonisolated(unsafe) let g = gp.baseAddress!, u = upp.baseAddress!
                let n = gp.count
                ComputePool.shared.run { thread, threads in
                    let part = ComputePool.share(of: n, thread: thread, threads: threads, granularity: 64)
                    guard !part.isEmpty else { return }
                    kernel(g + part.lowerBound, u + part.lowerBound, Int64(part.count))
                }
            }
        }
    }
}
