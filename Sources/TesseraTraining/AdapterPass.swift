import Foundation
import TesseraEngine
import TesseraKernels
import TesseraModel

/// Forward and backward over the frozen base with a trainable adapter (LoRA and DoRA; prompt and P-tuning's virtual
/// tokens; prefix tuning's keys and values), fp32 but for the base's forward products at `TrainingPrecision.int16`
/// (DESIGN 1, inside the trainer).
/// The forward pass keeps each layer's activations, or (gradient checkpointing, when they would not fit a budget)
/// only each layer's input, the backward pass then recomputing one layer at a time from it, so that memory grows
/// with layers × tokens × hidden, not with the attention maps.
/// Sequences are concatenated rows, each attending causally to its own rows only.
public struct AdapterPass: Sendable {
    let base: DecoderWeights
    /// The distinct rotary embeddings (global, sliding) and which one each layer uses.
    let ropes: [RoPE]
    let layerRope: [Int]
    let lora: AdapterParameters

    /// Recompute each layer in backward instead of keeping its activations: true, false, or nil to decide per batch
    /// (on when the batch's activations would pass `activationBudget`).
    public let gradientCheckpointing: Bool?
    /// 4 GiB: batches of 8 x 256 tokens keep their activations (about 2.4 GB on the default model) and train a
    /// third faster; longer ones recompute.
    public static let activationBudget = 4 << 30
    /// This pass's share of it (passes running side by side split it).
    let budget: Int

    /// The seed of this pass's dropout masks (nil: no dropout, as in evaluation).
    public let dropoutSeed: UInt64?

    /// DoRA: ‖W + scale · BA‖ per output row of each adapted projection, by the index of its A; constant through
    /// the pass (PEFT detaches it). Computed from the adapter unless given (a gradient check holds them fixed).
    public let doraNorms: [Int: [Float]]

    /// How products with the base run; the rest is fp32 either way.
    public let precision: TrainingPrecision
    /// The threads of the integer products (OpenBLAS has its own for the fp32 ones).
    let pool: ComputePool

    public init(base: DecoderWeights, lora: AdapterParameters, gradientCheckpointing: Bool? = nil, dropoutSeed: UInt64? = nil,
                doraNorms given: [Int: [Float]]? = nil, precision: TrainingPrecision = .fp32, pool: ComputePool = .shared,
                budget: Int = AdapterPass.activationBudget) {
        self.base = base
        self.budget = budget
        self.precision = precision
        self.pool = pool
        self.lora = lora
        self.gradientCheckpointing = gradientCheckpointing
        self.dropoutSeed = dropoutSeed
        var norms: [Int: [Float]] = given ?? [:]
        if lora.options.dora, given == nil {
            for l in 0..<base.config.layers {
                for p in Projection.allCases {
                    guard let i = lora.slot(l, p) else { continue }
                    norms[i] = Dense.rowNorms(base.layers[l][p], plus: lora.options.scale, lora.tensors[i + 1], lora.tensors[i],
                                              rank: lora.options.rank)
                }
            }
        }
        doraNorms = norms
        (ropes, layerRope) = RoPE.perLayer(base.config)
    }

    /// Whether this batch recomputes its layers: the bytes a layer keeps, times the layers, against the budget.
    func checkpointing(_ rows: Rows) -> Bool {
        if let gradientCheckpointing { return gradientCheckpointing }
        let c = base.config, n = rows.count
        let dora = lora.options.dora ? lora.options.targets.reduce(0) { $0 + $1.shape(c).outputs } : 0  // z per projection
        let perRow = 3 * c.hidden + 2 * c.heads * c.headDim + 2 * c.kvHeads * c.headDim + 2 * c.ffn  // see `compacted`
            + 7 * lora.options.rank + dora
            + (c.qkNorm ? (c.heads + c.kvHeads) * (c.headDim + 1) : 0)  // q and k before their norms, and the 1/rms
            + (c.sandwichNorms ? 2 * c.hidden + 2 : 0)  // attention's and the feed-forward's outputs before theirs
        let attention = rows.lengths.reduce(0) { $0 + c.heads * $1 * ($1 + rows.prefix) }
        return 4 * c.layers * (n * perRow + attention) > budget
    }

    /// The batch's rows: where each sequence starts and how long it is.
    struct Rows {
        let starts: [Int]
        let lengths: [Int]
        var count: Int { (starts.last ?? 0) + (lengths.last ?? 0) }

        /// Rows of the virtual tokens that start every sequence (prompt and P-tuning), before its tokens.
        let virtual: Int
        /// Prefix entries every sequence attends to before its own rows (prefix tuning); its rows' positions start
        /// after them, as they do in a KV cache the entries were put in first.
        let prefix: Int

        init(_ batch: [TrainingExample], virtual: Int, prefix: Int = 0) {
            var starts: [Int] = [], n = 0
            for e in batch {
                starts.append(n)
                n += virtual + e.tokens.count
            }
            self.starts = starts
            self.virtual = virtual
            self.prefix = prefix
            lengths = batch.map { virtual + $0.tokens.count }
        }
    }

    /// Sum over the batch of weight × negative log-likelihood of every trained token, and the gradients of
    /// (that sum / `normalizer`) added into `gradients` (shaped like `lora.tensors`).
    public func lossAndGradients(_ batch: [TrainingExample], normalizer: Double, into gradients: inout [[Float]]) -> Double {
        run(batch, normalizer: normalizer, gradients: &gradients)
    }

    /// The weighted NLL sum alone (validation): the forward pass, no backward.
    public func loss(_ batch: [TrainingExample]) -> Double {
        sequenceNLLs(batch).reduce(0, +)
    }

    /// Each sequence's weighted NLL sum (minus its log-likelihood of the trained tokens): the forward pass alone.
    public func sequenceNLLs(_ batch: [TrainingExample]) -> [Double] {
        var none: [[Float]] = [], nlls: [Double] = []
        _ = run(batch, normalizer: nil, gradients: &none, reweigh: { nlls = $0; return nil })
        return nlls
    }

    /// For losses that are functions of whole sequences' NLLs (DPO's): one forward pass, then `reweigh` gets every
    /// sequence's weighted NLL sum and returns d(loss)/d(NLL) for each, and the gradients of Σ those · NLL /
    /// `normalizer` are added into `gradients` (the head runs twice, the layers once).
    public func gradients(_ batch: [TrainingExample], normalizer: Double, into gradients: inout [[Float]],
                          reweigh: ([Double]) -> [Double]) {
        withoutActuallyEscaping(reweigh) { reweigh in
            _ = run(batch, normalizer: normalizer, gradients: &gradients, reweigh: reweigh)
        }
    }

    /// A trained position: its sequence in the batch, which of that sequence's trained positions it is (in order),
    /// the token there and its weight.
    public struct Position: Sendable {
        public var sequence: Int
        public var index: Int
        public var token: Int32
        public var weight: Float
    }

    /// A loss on one trained position's logits in place of the weighted cross-entropy (distillation's): returns the
    /// position's loss and, when `scale` is given, overwrites the row with scale × d(loss)/d(logits).
    public typealias PositionLoss = @Sendable (_ position: Position, _ logits: UnsafeMutablePointer<Float>, _ vocab: Int,
                                               _ scale: Float?) -> Double

    /// PPO's value loss at one trained position: given its value, returns d(loss)/d(value) (ignored without a
    /// normalizer, when the pass only reads the values).
    public typealias ValueLoss = @Sendable (_ position: Position, _ value: Double) -> Double

    /// Σ over the batch's trained positions of `positionLoss`, and the gradients of (that sum / `normalizer`) added
    /// into `gradients`; without a normalizer, the forward pass alone (a teacher reading its logits). With a value
    /// head, `valueLoss` gets every position's value and its d(loss)/d(value) goes back through the head too.
    public func lossAndGradients(_ batch: [TrainingExample], normalizer: Double?, into gradients: inout [[Float]],
                                 positionLoss: @escaping PositionLoss, valueLoss: ValueLoss? = nil) -> Double {
        run(batch, normalizer: normalizer, gradients: &gradients, positionLoss: positionLoss, valueLoss: valueLoss)
    }

    /// `reweigh` (see `gradients`) may return nil: then the tokens keep their weights.
    private func run(_ batch: [TrainingExample], normalizer: Double?, gradients: inout [[Float]],
                     reweigh: (([Double]) -> [Double]?)? = nil, positionLoss: PositionLoss? = nil,
                     valueLoss: ValueLoss? = nil) -> Double {
        let c = base.config, n0 = lora.virtualTokens, prefixed = lora.kind == .prefix
        let rows = Rows(batch, virtual: prefixed ? 0 : n0, prefix: prefixed ? n0 : 0), n = rows.count
        guard n > 0 else { return 0 }
        let tables = ropes.map { rope in rows.lengths.map { rope.table(start: rows.prefix, rows: $0) } }
        // The virtual tokens' rows: the adapter's own, or its encoder's output (whose backward comes last).
        let encoder = lora.encoderHidden > 0 ? PromptEncoder(lora) : nil
        let trace = encoder?.forward()
        let virtualRows = lora.kind == .lora ? [] : trace?.output ?? lora.tensors[0]
        var x = [Float](repeating: 0, count: n * c.hidden)  // [n, hidden]
        x.withUnsafeMutableBufferPointer { xp in
            var r = 0
            for e in batch {
                if rows.virtual > 0 {
                    (xp.baseAddress! + r * c.hidden).update(from: virtualRows, count: rows.virtual * c.hidden)
                    r += rows.virtual
                }
                for t in e.tokens {
                    let row = xp.baseAddress! + r * c.hidden
                    base.embedding.dequantizeRow(Int(t), into: row)
                    if c.embeddingScale != 1 { for j in 0..<c.hidden { row[j] *= c.embeddingScale } }
                    r += 1
                }
            }
        }
        // Each layer's input (what backward recomputes the layer from) or, without checkpointing, everything the
        // layer's backward needs.
        let keep = normalizer != nil && !checkpointing(rows)
        var inputs: [[Float]] = [], saved: [Saved] = []
        for l in 0..<c.layers {
            let s = layer(l, x, rows: rows, tables: tables[layerRope[l]], prefix: virtualRows)
            if normalizer != nil { if keep { saved.append(s.compacted()) } else { inputs.append(x) } }
            x = s.output
        }
        var loss: Double, dx: [Float]
        if let s = lora.scoreIndex {
            // A reward model: each sequence's score, and reweigh's d(loss)/d(score) back through the head.
            guard let reweigh else { preconditionFailure("a reward model trains through reweigh (a loss of its scores)") }
            let last = rows.starts.indices.map { rows.starts[$0] + rows.lengths[$0] - 1 }
            let (scores, read) = scalarHead(x, at: last, head: s)
            guard let factors = reweigh(scores), let normalizer else { return scores.reduce(0, +) }
            dx = [Float](repeating: 0, count: x.count)
            scalarHeadBackward(read, head: s, factors: factors.map { $0 / normalizer }, dHead: &gradients[s], dx: &dx)
            loss = 0
        } else if let reweigh {
            let nlls = head(x, batch, rows: rows, normalizer: nil).perSequence
            guard let factors = reweigh(nlls), let normalizer else { return nlls.reduce(0, +) }
            let scaled = zip(batch, factors).map { e, f in
                TrainingExample(tokens: e.tokens, weights: e.weights.map { $0 * Float(f) })
            }
            (loss, _, dx) = head(x, scaled, rows: rows, normalizer: normalizer)
        } else {
            (loss, _, dx) = head(x, batch, rows: rows, normalizer: normalizer, positionLoss: positionLoss)
        }
        if let valueLoss, let v = lora.valueIndex {
            values(x, batch, rows: rows, normalizer: normalizer, valueLoss: valueLoss, gradients: &gradients, head: v, dx: &dx)
        }
        guard normalizer != nil else { return loss }
        // The virtual rows' gradient, summed over the sequences (they all start from the same rows).
        var dVirtual = [Float](repeating: 0, count: virtualRows.count)
        for l in (0..<c.layers).reversed() {
            let t = tables[layerRope[l]]
            let s = keep ? saved.removeLast() : layer(l, inputs[l], rows: rows, tables: t, prefix: virtualRows)
            dx = layerBackward(l, s, rows: rows, tables: t, dOutput: dx, dPrefix: &dVirtual, gradients: &gradients)
        }
        for start in rows.starts where rows.virtual > 0 {
            for i in 0..<(rows.virtual * c.hidden) { dVirtual[i] += dx[start * c.hidden + i] }
        }
        if let encoder, let trace {
            encoder.backward(trace, dOutput: dVirtual, into: &gradients)
        } else if !dVirtual.isEmpty {
            for i in dVirtual.indices { gradients[0][i] += dVirtual[i] }
        }
        return loss
    }

    // MARK: - Layers

    /// What a layer's backward pass needs from its forward pass.
    /// An adapted projection's intermediate values: h = x Aᵀ [n, rank] and, for DoRA, the output before the
    /// magnitude's rescaling z [n, outputs].
    struct Side {
        var h: [Float]
        var z: [Float]?
    }

    struct Saved {
        var input: [Float] = []
        var output: [Float] = []
        var xn1: [Float] = [], inv1: [Float] = []
        var q: [Float] = [], k: [Float] = [], v: [Float] = []  // q and k rotated
        /// q and k before their per-head norms, and the norms' 1/rms (Qwen 3, Gemma 3).
        var qRaw: [Float] = [], kRaw: [Float] = [], qInv: [Float] = [], kInv: [Float] = []
        /// Sandwich norms: attention's and the feed-forward's outputs before their norms, and the 1/rms.
        var oRaw: [Float] = [], oInv: [Float] = [], downRaw: [Float] = [], downInv: [Float] = []
        /// Prefix tuning: this layer's prefix keys and values [entries, kvWidth].
        var prefixKeys: [Float] = [], prefixValues: [Float] = []
        /// What each adapted projection's backward needs, by `Projection.rawValue`.
        var side = [Side?](repeating: nil, count: Projection.allCases.count)
        var probabilities: [[Float]] = []  // [sequence][heads * T * (prefix + T)]
        var attn: [Float] = []
        var x2: [Float] = []
        var xn2: [Float] = [], inv2: [Float] = []
        var gate: [Float] = [], up: [Float] = [], act: [Float] = []

        /// Without the norms' outputs and SwiGLU's, which backward recomputes from what stays (bit for bit the
        /// same values): a third less memory for a kept layer.
        func compacted() -> Saved {
            var s = self
            s.xn1 = []
            s.xn2 = []
            s.act = []
            return s
        }
    }

    /// Layer l over the batch; `prefix` is prefix tuning's rows [entries, layers * 2 * kvWidth] (else unused).
    func layer(_ l: Int, _ x: [Float], rows: Rows, tables: [RoPE.Table], prefix: [Float]) -> Saved {
        let c = base.config, n = rows.count, b = base.layers[l], rope = ropes[layerRope[l]]
        var s = Saved()
        s.input = x
        s.xn1 = [Float](repeating: 0, count: x.count)
        s.inv1 = Elementwise.rmsNorm(x, b.attnNorm, width: c.hidden, eps: c.rmsEps, &s.xn1)
        s.q = linear(l, .q, s.xn1, n: n, &s.side)
        s.k = linear(l, .k, s.xn1, n: n, &s.side)
        s.v = linear(l, .v, s.xn1, n: n, &s.side)
        if let qNorm = b.qNorm, let kNorm = b.kNorm {
            (s.qRaw, s.kRaw) = (s.q, s.k)
            s.qInv = Elementwise.rmsNorm(s.qRaw, qNorm, width: c.headDim, eps: c.rmsEps, &s.q)
            s.kInv = Elementwise.rmsNorm(s.kRaw, kNorm, width: c.headDim, eps: c.rmsEps, &s.k)
        }
        for (i, t) in tables.enumerated() {
            rope.apply(&s.q, row: rows.starts[i], rows: rows.lengths[i], heads: c.heads, table: t)
            rope.apply(&s.k, row: rows.starts[i], rows: rows.lengths[i], heads: c.kvHeads, table: t)
        }
        if rows.prefix > 0 { (s.prefixKeys, s.prefixValues) = Self.prefixEntries(prefix, layer: l, count: rows.prefix, config: c) }
        (s.attn, s.probabilities) = Attention.forward(q: s.q, k: s.k, v: s.v, prefixKeys: s.prefixKeys,
                                                      prefixValues: s.prefixValues, rows: rows, window: c.window(layer: l),
                                                      config: c)
        var o = linear(l, .o, s.attn, n: n, &s.side)
        if let post = b.attnPostNorm {
            s.oRaw = o
            s.oInv = Elementwise.rmsNorm(s.oRaw, post, width: c.hidden, eps: c.rmsEps, &o)
        }
        s.x2 = x
        for i in s.x2.indices { s.x2[i] += o[i] }
        s.xn2 = [Float](repeating: 0, count: x.count)
        s.inv2 = Elementwise.rmsNorm(s.x2, b.ffnNorm, width: c.hidden, eps: c.rmsEps, &s.xn2)
        s.gate = linear(l, .gate, s.xn2, n: n, &s.side)
        s.up = linear(l, .up, s.xn2, n: n, &s.side)
        s.act = Elementwise.gated(c.activation, s.gate, s.up)
        var d = linear(l, .down, s.act, n: n, &s.side)
        if let post = b.ffnPostNorm {
            s.downRaw = d
            s.downInv = Elementwise.rmsNorm(s.downRaw, post, width: c.hidden, eps: c.rmsEps, &d)
        }
        s.output = s.x2
        for i in s.output.indices { s.output[i] += d[i] }
        return s
    }

    /// Layer l's prefix keys and values, [count, kvWidth] each, out of PEFT's layout of the rows.
    static func prefixEntries(_ rows: [Float], layer l: Int, count: Int, config c: ModelConfig) -> ([Float], [Float]) {
        let kvW = c.kvHeads * c.headDim, width = c.layers * 2 * kvW
        var keys = [Float](repeating: 0, count: count * kvW), values = keys
        for j in 0..<count {
            for i in 0..<kvW {
                keys[j * kvW + i] = rows[j * width + 2 * l * kvW + i]
                values[j * kvW + i] = rows[j * width + (2 * l + 1) * kvW + i]
            }
        }
        return (keys, values)
    }

    /// The gradient of the layer's input, given its output's; the adapter's gradients are added into `gradients`,
    /// prefix tuning's into `dPrefix` (shaped like its rows).
    func layerBackward(_ l: Int, _ s: Saved, rows: Rows, tables: [RoPE.Table], dOutput: [Float], dPrefix: inout [Float],
                       gradients: inout [[Float]]) -> [Float] {
        let c = base.config, n = rows.count, b = base.layers[l], x = s.input, rope = ropes[layerRope[l]]
        let xn1 = s.xn1.isEmpty ? Elementwise.scaled(x, b.attnNorm, inv: s.inv1, width: c.hidden) : s.xn1
        let xn2 = s.xn2.isEmpty ? Elementwise.scaled(s.x2, b.ffnNorm, inv: s.inv2, width: c.hidden) : s.xn2
        let act = s.act.isEmpty ? Elementwise.gated(c.activation, s.gate, s.up) : s.act
        // the feed-forward's post norm, down, then the gate
        var dDown = dOutput
        if let post = b.ffnPostNorm { dDown = Elementwise.rmsNormBackward(s.downRaw, post, inv: s.downInv, width: c.hidden, dOutput) }
        var dAct = [Float](repeating: 0, count: n * c.ffn)
        linearBackward(l, .down, side: s.side[Projection.down.rawValue], input: act, dy: dDown, n: n, dx: &dAct, gradients: &gradients)
        let (dGate, dUp) = Elementwise.gatedBackward(c.activation, s.gate, s.up, dAct)
        var dxn2 = [Float](repeating: 0, count: n * c.hidden)
        linearBackward(l, .gate, side: s.side[Projection.gate.rawValue], input: xn2, dy: dGate, n: n, dx: &dxn2, gradients: &gradients)
        linearBackward(l, .up, side: s.side[Projection.up.rawValue], input: xn2, dy: dUp, n: n, dx: &dxn2, gradients: &gradients)
        var dx2 = dOutput  // the residual
        Elementwise.rmsNormBackward(s.x2, b.ffnNorm, inv: s.inv2, width: c.hidden, dxn2, &dx2)
        // attention's post norm, the output projection, attention
        var dO = dx2
        if let post = b.attnPostNorm { dO = Elementwise.rmsNormBackward(s.oRaw, post, inv: s.oInv, width: c.hidden, dx2) }
        var dAttn = [Float](repeating: 0, count: n * c.heads * c.headDim)
        linearBackward(l, .o, side: s.side[Projection.o.rawValue], input: s.attn, dy: dO, n: n, dx: &dAttn, gradients: &gradients)
        let g = Attention.backward(q: s.q, k: s.k, v: s.v, prefixKeys: s.prefixKeys, prefixValues: s.prefixValues,
                                   probabilities: s.probabilities, dOut: dAttn, rows: rows, config: c)
        var (dq, dk, dv) = (g.dq, g.dk, g.dv)
        if rows.prefix > 0 {
            let kvW = c.kvHeads * c.headDim, width = c.layers * 2 * kvW
            for j in 0..<rows.prefix {
                for i in 0..<kvW {
                    dPrefix[j * width + 2 * l * kvW + i] += g.dPrefixKeys[j * kvW + i]
                    dPrefix[j * width + (2 * l + 1) * kvW + i] += g.dPrefixValues[j * kvW + i]
                }
            }
        }
        for (i, t) in tables.enumerated() {
            rope.apply(&dq, row: rows.starts[i], rows: rows.lengths[i], heads: c.heads, table: t, inverse: true)
            rope.apply(&dk, row: rows.starts[i], rows: rows.lengths[i], heads: c.kvHeads, table: t, inverse: true)
        }
        if let qNorm = b.qNorm, let kNorm = b.kNorm {
            dq = Elementwise.rmsNormBackward(s.qRaw, qNorm, inv: s.qInv, width: c.headDim, dq)
            dk = Elementwise.rmsNormBackward(s.kRaw, kNorm, inv: s.kInv, width: c.headDim, dk)
        }
        var dxn1 = [Float](repeating: 0, count: n * c.hidden)
        linearBackward(l, .q, side: s.side[Projection.q.rawValue], input: xn1, dy: dq, n: n, dx: &dxn1, gradients: &gradients)
        linearBackward(l, .k, side: s.side[Projection.k.rawValue], input: xn1, dy: dk, n: n, dx: &dxn1, gradients: &gradients)
        linearBackward(l, .v, side: s.side[Projection.v.rawValue], input: xn1, dy: dv, n: n, dx: &dxn1, gradients: &gradients)
        var dx = dx2
        Elementwise.rmsNormBackward(x, b.attnNorm, inv: s.inv1, width: c.hidden, dxn1, &dx)
        return dx
    }

    // MARK: - Products with the base

    /// y = x Wᵀ (overwrites y).
    func baseForward(_ w: WeightMatrix, _ x: [Float], tokens n: Int, _ y: inout [Float], prepared: IntegerDense.Prepared? = nil) {
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
                switch precision {
                case .fp32: Dense.forward(w, xp.baseAddress!, tokens: n, yp.baseAddress!)
                case .int16: IntegerDense.forward(prepared ?? IntegerDense.Prepared(w), xp.baseAddress!, tokens: n, yp.baseAddress!, pool: pool)
                }
            }
        }
    }

    /// dx += dy W, on fp32 tiles at either precision (see `IntegerDense`).
    func baseBackward(_ w: WeightMatrix, _ dy: [Float], tokens n: Int, _ dx: inout [Float]) {
        dy.withUnsafeBufferPointer { dp in dx.withUnsafeMutableBufferPointer { Dense.backward(w, dp.baseAddress!, tokens: n, $0.baseAddress!) } }
    }

    // MARK: - Projections with the adapter

    /// y = x Wᵀ + scale · (x Aᵀ) Bᵀ, for DoRA times magnitude / ‖W + scale · BA‖ per output, then the projection's
    /// bias if it has one (after DoRA's rescaling, as PEFT leaves the bias out of it); what backward needs goes into
    /// `side`. A bias is frozen and adds nothing to backward.
    func linear(_ l: Int, _ p: Projection, _ x: [Float], n: Int, _ side: inout [Side?]) -> [Float] {
        var y = adapted(l, p, x, n: n, &side)
        if let bias = base.layers[l].bias(p) { Kernels.addBias(bias, to: &y) }
        return y
    }

    private func adapted(_ l: Int, _ p: Projection, _ x: [Float], n: Int, _ side: inout [Side?]) -> [Float] {
        let w = base.layers[l][p]
        var y = [Float](repeating: 0, count: n * w.rows)
        baseForward(w, x, tokens: n, &y)
        guard let i = lora.slot(l, p) else { return y }
        let r = lora.options.rank
        var h = [Float](repeating: 0, count: n * r)
        let xd = dropped(x, l, p)
        Dense.gemm(false, true, m: n, n: r, k: w.columns, xd, lda: w.columns, lora.tensors[i], ldb: w.columns, beta: 0, &h, ldc: r)
        Dense.gemm(false, true, m: n, n: w.rows, k: r, alpha: lora.options.scale, h, lda: r, lora.tensors[i + 1], ldb: r,
                   beta: 1, &y, ldc: w.rows)
        guard let norms = doraNorms[i] else {
            side[p.rawValue] = Side(h: h, z: nil)
            return y
        }
        let z = y, m = lora.tensors[i + 2], rows = w.rows
        let factor = (0..<rows).map { m[$0] / norms[$0] }
        y.withUnsafeMutableBufferPointer { yp in
            for t in 0..<n { for o in 0..<rows { yp[t * rows + o] *= factor[o] } }
        }
        side[p.rawValue] = Side(h: h, z: z)
        return y
    }

    /// PEFT's `lora_dropout` on the adapter's input: each (row, input) kept with probability 1 − p and scaled by
    /// 1/(1 − p). The mask is a function of (`dropoutSeed`, layer, projection), so a recomputed layer drops the same
    /// inputs and backward applies the same mask.
    func dropoutMask(_ l: Int, _ p: Projection, count: Int) -> [Float]? {
        let rate = lora.options.dropout
        guard rate > 0, let seed = dropoutSeed else { return nil }
        var rng = RandomSource(seed: seed &+ UInt64(l * Projection.allCases.count + p.rawValue) &* 0x9E37_79B9_7F4A_7C15)
        let keep = 1 / (1 - rate)
        return (0..<count).map { _ in rng.nextUnit() < Double(rate) ? 0 : keep }
    }

    func dropped(_ x: [Float], _ l: Int, _ p: Projection) -> [Float] {
        guard let mask = dropoutMask(l, p, count: x.count) else { return x }
        return zip(x, mask).map { $0 * $1 }
    }

    /// dx += dy W + scale · (dy B) A; dA += scale · (dy B)ᵀ x, dB += scale · dyᵀ h (x and the second term through
    /// the dropout mask).
    func linearBackward(_ l: Int, _ p: Projection, side: Side?, input x: [Float], dy dOut: [Float], n: Int, dx: inout [Float],
                        gradients: inout [[Float]]) {
        let w = base.layers[l][p]
        var dy = dOut
        if let i = lora.slot(l, p), let norms = doraNorms[i], let z = side?.z {
            // DoRA, the norm a constant (as PEFT detaches it): dm = Σ_t dy·z / norm, and z's gradient is dy·m/norm.
            let m = lora.tensors[i + 2], rows = w.rows
            let factor = (0..<rows).map { m[$0] / norms[$0] }, inverse = norms.map { 1 / $0 }
            var dm = [Float](repeating: 0, count: rows)
            dy.withUnsafeMutableBufferPointer { dyp in
                for t in 0..<n {
                    for o in 0..<rows {
                        let j = t * rows + o
                        dm[o] += dyp[j] * z[j]
                        dyp[j] *= factor[o]
                    }
                }
            }
            for o in 0..<rows { gradients[i + 2][o] += dm[o] * inverse[o] }
        }
        baseBackward(w, dy, tokens: n, &dx)
        guard let i = lora.slot(l, p), let h = side?.h else { return }
        let r = lora.options.rank, scale = lora.options.scale
        Dense.gemm(true, false, m: w.rows, n: r, k: n, alpha: scale, dy, lda: w.rows, h, ldb: r, beta: 1,
                   &gradients[i + 1], ldc: r)
        var dh = [Float](repeating: 0, count: n * r)
        Dense.gemm(false, false, m: n, n: r, k: w.rows, alpha: scale, dy, lda: w.rows, lora.tensors[i + 1], ldb: r,
                   beta: 0, &dh, ldc: r)
        let mask = dropoutMask(l, p, count: x.count)
        let xd = mask.map { zip(x, $0).map { $0 * $1 } } ?? x
        Dense.gemm(true, false, m: r, n: w.columns, k: n, dh, lda: r, xd, ldb: w.columns, beta: 1, &gradients[i],
                   ldc: w.columns)
        guard let mask else {
            Dense.gemm(false, false, m: n, n: w.columns, k: r, dh, lda: r, lora.tensors[i], ldb: w.columns, beta: 1, &dx,
                       ldc: w.columns)
            return
        }
        var dxd = [Float](repeating: 0, count: x.count)
        Dense.gemm(false, false, m: n, n: w.columns, k: r, dh, lda: r, lora.tensors[i], ldb: w.columns, beta: 0, &dxd,
                   ldc: w.columns)
        for j in dx.indices { dx[j] += dxd[j] * mask[j] }
    }

    // MARK: - Scalar heads (a reward model's score, PPO's value)

    /// What a scalar head read: the rows of the residual, normed, and the norm's factors.
    struct ScalarRead {
        var rows: [Int]
        var input: [Float]
        var normed: [Float]
        var inv: [Float]
    }

    /// The scalar head `lora.tensors[head]` at `rows` of the residual: w · finalNorm(x_row) (transformers' sequence
    /// classification reads the last token; PPO's value head every trained position).
    func scalarHead(_ x: [Float], at rows: [Int], head: Int) -> ([Double], ScalarRead) {
        let c = base.config, width = c.hidden, w = lora.tensors[head]
        var input = [Float](repeating: 0, count: rows.count * width)
        for (j, row) in rows.enumerated() {
            for i in 0..<width { input[j * width + i] = x[row * width + i] }
        }
        var normed = input
        let inv = Elementwise.rmsNorm(input, base.outputNorm, width: width, eps: c.rmsEps, &normed)
        let outputs = rows.indices.map { j in (0..<width).reduce(0.0) { $0 + Double(w[$1]) * Double(normed[j * width + $1]) } }
        return (outputs, ScalarRead(rows: rows, input: input, normed: normed, inv: inv))
    }

    /// The head's backward from d(loss)/d(output) at each row it read (`factors`): its own gradient added into
    /// `dHead`, the residual's into `dx`.
    func scalarHeadBackward(_ read: ScalarRead, head: Int, factors: [Double], dHead: inout [Float], dx: inout [Float]) {
        let width = base.config.hidden, w = lora.tensors[head]
        var dNormed = [Float](repeating: 0, count: read.normed.count)
        for (j, f) in factors.enumerated() {
            for i in 0..<width {
                dHead[i] += Float(f) * read.normed[j * width + i]
                dNormed[j * width + i] = Float(f) * w[i]
            }
        }
        var dInput = [Float](repeating: 0, count: read.input.count)
        Elementwise.rmsNormBackward(read.input, base.outputNorm, inv: read.inv, width: width, dNormed, &dInput)
        for (j, row) in read.rows.enumerated() {
            for i in 0..<width { dx[row * width + i] += dInput[j * width + i] }
        }
    }

    /// PPO's value head at every trained position; with a normalizer, d(loss)/dV / normalizer back into the head
    /// (`gradients[head]`; without one there are no gradients) and the residual (`dx`).
    func values(_ x: [Float], _ batch: [TrainingExample], rows: Rows, normalizer: Double?, valueLoss: ValueLoss,
                gradients: inout [[Float]], head: Int, dx: inout [Float]) {
        let targets = Self.targets(batch, rows: rows)
        let (values, read) = scalarHead(x, at: targets.map(\.row), head: head)
        let factors = zip(targets, values).map { valueLoss($0.position, $1) }
        guard let normalizer else { return }
        scalarHeadBackward(read, head: head, factors: factors.map { $0 / normalizer }, dHead: &gradients[head], dx: &dx)
    }

    // MARK: - Head and loss

    /// Rows predicting a trained token, and which position each is. Weights may be negative (DPO's rejected answers
    /// push their likelihood down).
    static func targets(_ batch: [TrainingExample], rows: Rows) -> [(row: Int, position: Position)] {
        var out: [(Int, Position)] = []
        for (i, e) in batch.enumerated() {
            var index = 0
            for j in 1..<max(1, e.tokens.count) where e.weights[j] != 0 {
                out.append((rows.starts[i] + rows.virtual + j - 1, Position(sequence: i, index: index, token: e.tokens[j], weight: e.weights[j])))
                index += 1
            }
        }
        return out
    }

    /// The final norm, the (tied) head and the weighted cross-entropy (or `positionLoss`), in chunks of rows so the
    /// logits of the whole batch ([tokens, vocab]) never exist at once. Returns the loss sum, each sequence's, and
    /// the gradient of the residual (of the sum / `normalizer`; none without a normalizer).
    func head(_ x: [Float], _ batch: [TrainingExample], rows: Rows, normalizer: Double?,
              positionLoss: PositionLoss? = nil) -> (Double, perSequence: [Double], [Float]) {
        let c = base.config, width = c.hidden, vocab = c.vocab
        let targets = Self.targets(batch, rows: rows)
        var dx = normalizer != nil ? [Float](repeating: 0, count: x.count) : []
        var loss = 0.0, perSequence = [Double](repeating: 0, count: batch.count)
        // The head laid out for the integer kernels once for all chunks (it is the largest matrix). Chunks of 256
        // rows: at fp32 every chunk dequantizes the head again and the products' packing is paid per chunk, so 64
        // measured ~8% slower training at AVX2; 256 rows of logits are 48 MiB at a 49152 vocabulary.
        let prepared = precision == .int16 ? IntegerDense.Prepared(base.output) : nil
        let chunk = 256
        var start = 0
        while start < targets.count {
            let part = targets[start..<min(start + chunk, targets.count)], m = part.count
            var xs = [Float](repeating: 0, count: m * width)
            for (j, t) in part.enumerated() {
                for i in 0..<width { xs[j * width + i] = x[t.row * width + i] }
            }
            var xn = xs
            let inv = Elementwise.rmsNorm(xs, base.outputNorm, width: width, eps: c.rmsEps, &xn)
            var logits = [Float](repeating: 0, count: m * vocab)
            baseForward(base.output, xn, tokens: m, &logits, prepared: prepared)
            if let bias = base.outputBias { Kernels.addBias(bias, to: &logits) }
            // Soft-capped logits cap · tanh(z / cap); tanh kept for the gradient's 1 − tanh².
            let capped = c.logitSoftcap > 0 ? Elementwise.softcap(&logits, cap: c.logitSoftcap) : nil
            // logits become d(loss)/d(logits): (softmax − onehot) · weight / normalizer
            logits.withUnsafeMutableBufferPointer { lp in
                for (j, (_, t)) in part.enumerated() {
                    let row = lp.baseAddress! + j * vocab
                    let nll: Double
                    if let positionLoss {
                        nll = positionLoss(t, row, vocab, normalizer.map { Float(1 / $0) })
                    } else {
                        let target = row[Int(t.token)], g = normalizer.map { Float(Double(t.weight) / $0) } ?? 0
                        nll = Double(t.weight) * (Kernels.logSoftmaxRow(row, count: vocab, scale: g) - Double(target))
                        if g != 0 { row[Int(t.token)] -= g }
                    }
                    loss += nll
                    perSequence[t.sequence] += nll
                }
            }
            guard normalizer != nil else {
                start += m
                continue
            }
            if let capped { for i in logits.indices { logits[i] *= 1 - capped[i] * capped[i] } }
            var dxn = [Float](repeating: 0, count: m * width)
            baseBackward(base.output, logits, tokens: m, &dxn)
            var dxs = [Float](repeating: 0, count: m * width)
            Elementwise.rmsNormBackward(xs, base.outputNorm, inv: inv, width: width, dxn, &dxs)
            for (j, t) in part.enumerated() {
                for i in 0..<width { dx[t.row * width + i] += dxs[j * width + i] }
            }
            start += m
        }
        return (loss, perSequence, dx)
    }
}
