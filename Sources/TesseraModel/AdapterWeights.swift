import TesseraKernels

/// The projections of a decoder layer an adapter can change, in the order PEFT names them.
public enum Projection: Int, CaseIterable, Sendable, CustomStringConvertible {
    case q, k, v, o, gate, up, down

    /// PEFT's module path inside a layer.
    public var peftModule: String {
        switch self {
        case .q: "self_attn.q_proj"
        case .k: "self_attn.k_proj"
        case .v: "self_attn.v_proj"
        case .o: "self_attn.o_proj"
        case .gate: "mlp.gate_proj"
        case .up: "mlp.up_proj"
        case .down: "mlp.down_proj"
        }
    }

    public var description: String { String(peftModule.split(separator: ".").last!) }

    /// (outputs, inputs) of this projection in `config`.
    public func shape(_ c: ModelConfig) -> (outputs: Int, inputs: Int) {
        switch self {
        case .q: (c.heads * c.headDim, c.hidden)
        case .k, .v: (c.kvHeads * c.headDim, c.hidden)
        case .o: (c.hidden, c.heads * c.headDim)
        case .gate, .up: (c.ffn, c.hidden)
        case .down: (c.hidden, c.ffn)
        }
    }
}

/// y += B(Ax) for one projection, the scale folded into B (DESIGN 3.4). DoRA also rescales each output row:
/// y = doraScale * (Wx + B(Ax)), doraScale = magnitude / ||W + BA|| per row, computed at load.
public struct LowRankDelta: Sendable {
    public let rank: Int
    public let a: WeightMatrix  // [rank, inputs], F32
    public let b: WeightMatrix  // [outputs, rank], F32, scaled
    public let doraScale: [Float]?  // [outputs]
    private let storage: OwnedWeights

    public init(rank: Int, inputs: Int, outputs: Int, a: [Float], b: [Float], doraScale: [Float]?) {
        precondition(a.count == rank * inputs && b.count == outputs * rank)
        self.init(rank: rank, inputs: inputs, outputs: outputs, doraScale: doraScale) { p in
            p.update(from: a, count: a.count)
            (p + a.count).update(from: b, count: b.count)
        }
    }

    /// `fill` writes A ([rank, inputs]) then B ([outputs, rank]) into the delta's own storage.
    public init(rank: Int, inputs: Int, outputs: Int, doraScale: [Float]?, fill: (UnsafeMutablePointer<Float>) -> Void) {
        let storage = OwnedWeights(bytes: rank * (inputs + outputs) * 4)
        fill(storage.pointer.bindMemory(to: Float.self, capacity: rank * (inputs + outputs)))
        self.init(rank: rank, inputs: inputs, outputs: outputs, doraScale: doraScale, storage: storage, offset: 0)
    }

    /// A and B at float `offset` of `storage`, which several deltas may share (one buffer per stored adapter).
    public init(rank: Int, inputs: Int, outputs: Int, doraScale: [Float]?, storage: OwnedWeights, offset: Int) {
        precondition((doraScale?.count ?? outputs) == outputs && (offset + rank * (inputs + outputs)) * 4 <= storage.bytes)
        let p = storage.pointer.bindMemory(to: Float.self, capacity: storage.bytes / 4) + offset
        self.storage = storage
        self.rank = rank
        self.a = WeightMatrix(type: 0, rows: rank, columns: inputs, base: UnsafeRawPointer(p))!
        self.b = WeightMatrix(type: 0, rows: outputs, columns: rank, base: UnsafeRawPointer(p + rank * inputs))!
        self.doraScale = doraScale
    }

    /// Bytes of A, B and the DoRA factors (a shared buffer is counted by the deltas in it, each its part).
    public var bytes: Int { rank * (a.columns + b.rows) * 4 + (doraScale?.count ?? 0) * 4 }
}

/// What one adapter changes in a forward pass, in the model's terms; TesseraAdapters makes these from PEFT files.
/// Immutable, so in-flight sequences can keep a version while a newer one replaces it.
public final class AdapterWeights: Sendable {
    /// [layer][Projection.rawValue]
    public let deltas: [[LowRankDelta?]]
    /// Prompt and P-tuning: [virtualTokens, hidden] input embeddings in front of the sequence.
    public let virtualTokens: [Float]
    /// Prefix tuning: [prefixTokens, layers * 2 * kvWidth]; row r holds layer l's key at slice 2l, value at 2l+1.
    public let prefix: [Float]
    public let virtualTokenCount: Int
    public let prefixTokenCount: Int

    public init(deltas: [[LowRankDelta?]], virtualTokens: [Float] = [], virtualTokenCount: Int = 0,
                prefix: [Float] = [], prefixTokenCount: Int = 0) {
        self.deltas = deltas
        self.virtualTokens = virtualTokens
        self.virtualTokenCount = virtualTokenCount
        self.prefix = prefix
        self.prefixTokenCount = prefixTokenCount
    }

    /// A delta table with nothing in it: [layer][projection].
    public static func noDeltas(_ c: ModelConfig) -> [[LowRankDelta?]] {
        Array(repeating: Array(repeating: nil, count: Projection.allCases.count), count: c.layers)
    }

    public var hasDeltas: Bool { deltas.contains { $0.contains { $0 != nil } } }

    /// Positions the adapter occupies in a sequence's cache before its first real token.
    public var positions: Int { virtualTokenCount + prefixTokenCount }

    /// Bytes of adapter data held in memory.
    public var bytes: Int {
        deltas.joined().reduce(0) { $0 + ($1?.bytes ?? 0) } + (virtualTokens.count + prefix.count) * 4
    }
}

/// An adapter applied to one sequence; LoRA deltas of several adapters add up, each times its weight.
public struct AppliedAdapter: Sendable {
    public let weights: AdapterWeights
    public let scale: Float

    public init(_ weights: AdapterWeights, scale: Float = 1) {
        self.weights = weights
        self.scale = scale
    }
}
