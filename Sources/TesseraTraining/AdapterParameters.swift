import Foundation
import TesseraEngine
import TesseraModel

/// What a LoRA adapter trains: rank, scaling and the projections it adapts (PEFT's `LoraConfig`).
public struct LoRAOptions: Sendable, Equatable {
    public var rank = 16
    public var alpha: Float = 32
    /// Scale alpha/sqrt(r) instead of alpha/r.
    public var rsLoRA = false
    /// In `Projection` order.
    public var targets: [Projection] = Projection.allCases
    /// PEFT's `lora_dropout`, on the adapter's input only.
    public var dropout: Float = 0
    /// DoRA: each output row rescaled to a trained magnitude over the norm of W + scale · BA.
    public var dora = false

    public init() {}

    /// Options adapting `targets` (none: the base itself, as DPO's reference with the adapter off).
    public init(targets: [Projection]) { self.targets = targets }

    public var scale: Float { rsLoRA ? alpha / Float(rank).squareRoot() : alpha / Float(rank) }
}

/// The trainable tensors of an adapter, fp32 (DESIGN 3.12), flat so the loop and the optimizer treat every kind
/// alike. LoRA: per adapted (layer, projection), A [rank, inputs] and B [outputs, rank], y += scale · B(A x), and for
/// DoRA the magnitude [outputs].
/// Prompt and P-tuning: virtual tokens [n, hidden], the first inputs of every sequence. Prefix tuning: per virtual
/// token a key and a value for every layer [n, layers * 2 * kvWidth], attended to before the sequence's own. P-tuning,
/// and prefix tuning with a projection, train an encoder whose output those rows are (`PromptEncoder`): then the
/// tensors are its input embedding and its layers' weights and biases.
public struct AdapterParameters: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case lora, prompt, pTuning = "p-tuning", prefix
    }

    public let kind: Kind
    /// LoRA's options (unused by the other kinds).
    public let options: LoRAOptions
    /// Virtual tokens of prompt, P- and prefix tuning (0 for LoRA).
    public let virtualTokens: Int
    /// The hidden width of P-tuning's or prefix tuning's encoder; 0 when the rows themselves train (always for prompt
    /// tuning; for an adapter read back from PEFT's files, which keep only the encoder's output).
    public let encoderHidden: Int
    public let config: ModelConfig
    /// LoRA: A, B (, magnitude), A, B, ... in (layer, projection) order. Other kinds: the rows, or the encoder's
    /// embedding, then each encoder layer's weight and bias.
    public var tensors: [[Float]]
    /// [layer][projection] -> index of A in `tensors` (B follows it).
    let slots: [[Int?]]

    /// A reward model's score head (PEFT's `score` of a sequence-classification model, [1, hidden], saved through
    /// `modules_to_save`), the last tensor: the adapter's output is then a score read on each sequence's last token
    /// instead of next-token logits.
    public private(set) var hasScoreHead = false

    /// Index of the score head in `tensors`.
    var scoreIndex: Int? { hasScoreHead ? tensors.count - 1 : nil }

    /// PPO's value head (TRL's `v_head`, [1, hidden]), the last tensor: a value read at every trained position, on
    /// the same normed hidden state the next-token head reads. It trains with the policy and stays out of the PEFT
    /// adapter the policy is saved as (a checkpoint keeps it).
    public private(set) var hasValueHead = false

    var valueIndex: Int? { hasValueHead ? tensors.count - 1 : nil }

    public static let valueName = "v_head.summary.weight"

    /// Adds a value head, zero (every value 0 at the start, so the first advantages are the rewards'), or `weights`.
    public mutating func addValueHead(weights: [Float]? = nil) {
        precondition(kind == .lora && !hasScoreHead && !hasValueHead && (weights?.count ?? config.hidden) == config.hidden)
        tensors.append(weights ?? [Float](repeating: 0, count: config.hidden))
        hasValueHead = true
    }

    /// This adapter without its value head: the policy alone.
    public var withoutValueHead: AdapterParameters {
        guard hasValueHead else { return self }
        var out = self
        out.tensors.removeLast()
        out.hasValueHead = false
        return out
    }

    /// Adds a score head as `transformers` starts one (N(0, 0.02²), its `initializer_range`), or `weights`.
    public mutating func addScoreHead(seed: UInt64, weights: [Float]? = nil) {
        precondition(kind == .lora && !hasScoreHead && (weights?.count ?? config.hidden) == config.hidden)
        var rng = RandomSource(seed: seed)
        tensors.append(weights ?? rng.normals(config.hidden).map { $0 * 0.02 })
        hasScoreHead = true
    }

    /// PEFT's name of the score head.
    public static let scoreName = "base_model.model.score.weight"

    /// A LoRA adapter with PEFT's initialization: A uniform in ±1/sqrt(inputs) (kaiming-uniform with a = sqrt 5),
    /// B zero, so training starts from the base.
    public init(config: ModelConfig, options: LoRAOptions, seed: UInt64) {
        var rng = RandomSource(seed: seed)
        var tensors: [[Float]] = []
        var slots = Self.noSlots(config)
        for l in 0..<config.layers {
            for p in Projection.allCases where options.targets.contains(p) {
                let (outputs, inputs) = p.shape(config)
                let bound = 1 / Float(inputs).squareRoot()
                slots[l][p.rawValue] = tensors.count
                tensors.append((0..<options.rank * inputs).map { _ in Float(2 * rng.nextUnit() - 1) * bound })
                tensors.append([Float](repeating: 0, count: outputs * options.rank))
                if options.dora { tensors.append([Float](repeating: 1, count: outputs)) }  // see `startMagnitudes`
            }
        }
        kind = .lora
        self.config = config
        self.options = options
        virtualTokens = 0
        encoderHidden = 0
        self.tensors = tensors
        self.slots = slots
    }

    /// A prompt-tuning adapter of `embeddings` [n, hidden] (see `PromptInit` for PEFT's ways to start one).
    public init(config: ModelConfig, promptEmbeddings embeddings: [Float]) {
        self.init(config: config, kind: .prompt, rows: embeddings)
    }

    /// Prompt, P- or prefix tuning whose rows [n, `rowWidth(kind)`] train themselves, with no encoder.
    public init(config: ModelConfig, kind: Kind, rows: [Float]) {
        let width = Self.rowWidth(kind, config)
        precondition(kind != .lora && !rows.isEmpty && rows.count % width == 0)
        self.kind = kind
        self.config = config
        options = LoRAOptions()
        virtualTokens = rows.count / width
        encoderHidden = 0
        tensors = [rows]
        slots = Self.noSlots(config)
    }

    /// P-tuning or prefix tuning as PEFT starts them: n virtual tokens whose embeddings are N(0, 1) (torch's
    /// `Embedding`), through an encoder of hidden width `encoderHidden` (0: prefix tuning without a projection, the
    /// rows themselves N(0, 1)) whose layers start as torch's `Linear` does, weights and biases uniform in ±1/sqrt(inputs).
    public init(config: ModelConfig, kind: Kind, virtualTokens n: Int, encoderHidden: Int, seed: UInt64) {
        precondition((kind == .pTuning && encoderHidden > 0) || (kind == .prefix && encoderHidden >= 0))
        var rng = RandomSource(seed: seed)
        self.kind = kind
        self.config = config
        options = LoRAOptions()
        virtualTokens = n
        self.encoderHidden = encoderHidden
        slots = Self.noSlots(config)
        let shapes = encoderHidden == 0 ? [[n, Self.rowWidth(kind, config)]]
            : PromptEncoder.shapes(kind: kind, config: config, hidden: encoderHidden, tokens: n)
        tensors = [rng.normals(shapes[0].reduce(1, *))]
        for layer in stride(from: 1, to: shapes.count, by: 2) {  // weight [outputs, inputs], bias [outputs]
            let (outputs, inputs) = (shapes[layer][0], shapes[layer][1]), bound = 1 / Float(inputs).squareRoot()
            for count in [outputs * inputs, outputs] {
                tensors.append((0..<count).map { _ in Float(2 * rng.nextUnit() - 1) * bound })
            }
        }
    }

    /// A P-tuning or projected prefix-tuning adapter from all of its trainable tensors (a checkpoint's encoder).
    init(config: ModelConfig, kind: Kind, encoderHidden: Int, tensors: [[Float]]) {
        self.kind = kind
        self.config = config
        options = LoRAOptions()
        virtualTokens = tensors[0].count / PromptEncoder.shapes(kind: kind, config: config, hidden: encoderHidden, tokens: 1)[0][1]
        self.encoderHidden = encoderHidden
        self.tensors = tensors
        slots = Self.noSlots(config)
    }

    private static func noSlots(_ c: ModelConfig) -> [[Int?]] {
        [[Int?]](repeating: [Int?](repeating: nil, count: Projection.allCases.count), count: c.layers)
    }

    /// The width of a virtual token's row: the hidden size (prompt, P-tuning), or a key and a value for every layer
    /// (prefix tuning, as PEFT lays out its `past_key_values`: layer l's key at slice 2l, its value at 2l + 1).
    public static func rowWidth(_ kind: Kind, _ c: ModelConfig) -> Int {
        kind == .prefix ? c.layers * 2 * c.kvHeads * c.headDim : c.hidden
    }

    /// What the model sees of a virtual-token adapter: its rows [n, `rowWidth`], through the encoder if it has one.
    public var virtualRows: [Float] {
        encoderHidden == 0 ? tensors[0] : PromptEncoder(self).forward().output
    }

    /// DoRA's starting magnitudes, as PEFT sets them: the norms of W + scale · BA (of W, with B zero).
    public mutating func startMagnitudes(base: DecoderWeights) {
        guard options.dora else { return }
        for l in 0..<config.layers {
            for p in Projection.allCases {
                guard let i = slot(l, p) else { continue }
                tensors[i + 2] = Dense.rowNorms(base.layers[l][p], plus: options.scale, tensors[i + 1], tensors[i], rank: options.rank)
            }
        }
    }

    /// Index of (layer, projection)'s A in `tensors`, if adapted (B follows it, then DoRA's magnitude).
    func slot(_ layer: Int, _ p: Projection) -> Int? { slots[layer][p.rawValue] }

    /// PEFT's tensor names and shapes, in `tensors` order.
    public var names: [(name: String, shape: [Int])] {
        if kind != .lora {
            guard encoderHidden > 0 else { return [("prompt_embeddings", [virtualTokens, Self.rowWidth(kind, config)])] }
            return zip(PromptEncoder.names(kind), PromptEncoder.shapes(kind: kind, config: config, hidden: encoderHidden,
                                                                       tokens: virtualTokens)).map { ($0, $1) }
        }
        var out: [(String, [Int])] = []
        for l in 0..<config.layers {
            for p in Projection.allCases where slots[l][p.rawValue] != nil {
                let (outputs, inputs) = p.shape(config)
                let prefix = "base_model.model.model.layers.\(l).\(p.peftModule)"
                out.append(("\(prefix).lora_A.weight", [options.rank, inputs]))
                out.append(("\(prefix).lora_B.weight", [outputs, options.rank]))
                if options.dora { out.append(("\(prefix).lora_magnitude_vector", [outputs])) }
            }
        }
        if hasScoreHead { out.append((Self.scoreName, [1, config.hidden])) }
        if hasValueHead { out.append((Self.valueName, [1, config.hidden])) }
        return out
    }

    public var parameterCount: Int { tensors.reduce(0) { $0 + $1.count } }
}
