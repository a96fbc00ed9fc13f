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

    /// The projection PEFT's `target_modules` names `name` (`q_proj`, ..., `down_proj`).
    public init?(peftName name: String) {
        guard let p = Projection.allCases.first(where: { $0.description == name }) else { return nil }
        self = p
    }

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
/// Held in the kernels' form: A [rank, inputs] then B transposed [rank, outputs], in fp32 or fp16.
public struct LowRankDelta: @unchecked Sendable {  // immutable; its buffers live as long as it
    /// How the weights are held. fp16 halves the bytes a step streams when every sequence brings its own adapter
    /// (what bounds that step) at a relative error of 2^-11 per weight; fp32 goes with fp32 activations, the exact
    /// mode.
    public enum Precision: Sendable, Equatable {
        case f32, f16

        public static var selected: Precision { ActivationPrecision.selected == .fp32 ? .f32 : .f16 }

        public var bytes: Int { self == .f32 ? 4 : 2 }
        var type: Int32 { self == .f32 ? 0 : 1 }
    }

    public let rank: Int
    public let inputs: Int
    public let outputs: Int
    public let precision: Precision
    /// DoRA's row factors [outputs], in a buffer of their own so kernels can point at them.
    private let dora: OwnedWeights?
    /// A, then Bt.
    let a: UnsafeRawPointer
    var bt: UnsafeRawPointer { a + rank * inputs * precision.bytes }
    private let storage: OwnedWeights

    /// From A [rank, inputs] and B [outputs, rank] (scale folded in), as PEFT stores them.
    public init(rank: Int, inputs: Int, outputs: Int, a: [Float], b: [Float], doraScale: [Float]?, precision: Precision = .selected) {
        precondition(a.count == rank * inputs && b.count == outputs * rank)
        var kernelForm = a
        kernelForm.reserveCapacity(rank * (inputs + outputs))
        for j in 0..<rank {
            for o in 0..<outputs { kernelForm.append(b[o * rank + j]) }
        }
        let storage = OwnedWeights(bytes: kernelForm.count * precision.bytes)
        kernelForm.withUnsafeBufferPointer { Self.store($0, into: storage.pointer, precision) }
        self.init(rank: rank, inputs: inputs, outputs: outputs, doraScale: doraScale, storage: storage, offset: 0, precision: precision)
    }

    /// A [rank, inputs] then Bt [rank, outputs] at element `offset` of `storage`, held in `precision`; several deltas
    /// may share one buffer (one per stored adapter).
    public init(rank: Int, inputs: Int, outputs: Int, doraScale: [Float]?, storage: OwnedWeights, offset: Int, precision: Precision) {
        precondition((doraScale?.count ?? outputs) == outputs && (offset + rank * (inputs + outputs)) * precision.bytes <= storage.bytes)
        self.storage = storage
        self.rank = rank
        self.inputs = inputs
        self.outputs = outputs
        self.precision = precision
        a = UnsafeRawPointer(storage.pointer + offset * precision.bytes)
        dora = doraScale.map { d in
            let buffer = OwnedWeights(bytes: d.count * 4)
            d.withUnsafeBytes { buffer.pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            return buffer
        }
    }

    public var doraScale: [Float]? {
        dora.map { Array(UnsafeBufferPointer(start: $0.pointer.assumingMemoryBound(to: Float.self), count: outputs)) }
    }

    /// This delta applied to `rows` of a batch with `weight`, for the kernel.
    func item(rows: Range<Int>, weight: Float) -> Kernels.LoRAItem {
        Kernels.LoRAItem(a: a, bt: bt, dora: dora.map { UnsafePointer($0.pointer.assumingMemoryBound(to: Float.self)) },
                         rows: rows, rank: rank, type: precision.type, weight: dora == nil ? weight : 1)
    }

    public var isDoRA: Bool { dora != nil }

    /// Writes floats into `destination` in `precision`.
    public static func store(_ values: UnsafeBufferPointer<Float>, into destination: UnsafeMutableRawPointer, _ precision: Precision) {
        switch precision {
        case .f32: destination.copyMemory(from: values.baseAddress!, byteCount: values.count * 4)
        case .f16: Kernels.toFP16(values.baseAddress!, destination.assumingMemoryBound(to: UInt16.self), count: values.count)
        }
    }

    /// A [rank, inputs] and Bt [rank, outputs] as floats (exact when held in fp32).
    public func values() -> (a: [Float], bt: [Float]) {
        let n = rank * (inputs + outputs)
        let all: [Float] = precision == .f32
            ? Array(UnsafeBufferPointer(start: a.assumingMemoryBound(to: Float.self), count: n))
            : UnsafeBufferPointer(start: a.assumingMemoryBound(to: UInt16.self), count: n).map(Half.float(fromFP16:))
        return (Array(all[..<(rank * inputs)]), Array(all[(rank * inputs)...]))
    }

    /// Bytes of A, B and the DoRA factors (a shared buffer is counted by the deltas in it, each its part).
    public var bytes: Int { rank * (inputs + outputs) * precision.bytes + (dora?.bytes ?? 0) }
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
