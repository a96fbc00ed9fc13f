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

    public var scale: Float { rsLoRA ? alpha / Float(rank).squareRoot() : alpha / Float(rank) }
}

/// The trainable tensors of an adapter, fp32 (DESIGN 3.12), flat so the loop and the optimizer treat every kind
/// alike. LoRA: per adapted (layer, projection), A [rank, inputs] and B [outputs, rank], y += scale · B(A x), and for
/// DoRA the magnitude [outputs].
/// Prompt tuning: `prompt_embeddings` [virtual tokens, hidden], the first inputs of every sequence.
public struct AdapterParameters: Sendable {
    public enum Kind: String, Sendable, CaseIterable { case lora, prompt }

    public let kind: Kind
    /// LoRA's options (unused by the other kinds).
    public let options: LoRAOptions
    /// Virtual tokens of prompt tuning (0 for LoRA).
    public let virtualTokens: Int
    public let config: ModelConfig
    /// LoRA: A, B (, magnitude), A, B, ... in (layer, projection) order. Prompt tuning: the embeddings.
    public var tensors: [[Float]]
    /// [layer][projection] -> index of A in `tensors` (B follows it).
    let slots: [[Int?]]

    /// A LoRA adapter with PEFT's initialization: A uniform in ±1/sqrt(inputs) (kaiming-uniform with a = sqrt 5),
    /// B zero, so training starts from the base.
    public init(config: ModelConfig, options: LoRAOptions, seed: UInt64) {
        var rng = RandomSource(seed: seed)
        var tensors: [[Float]] = []
        var slots = [[Int?]](repeating: [Int?](repeating: nil, count: Projection.allCases.count), count: config.layers)
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
        self.tensors = tensors
        self.slots = slots
    }

    /// A prompt-tuning adapter of `embeddings` [n, hidden] (see `PromptInit` for PEFT's ways to start one).
    public init(config: ModelConfig, promptEmbeddings embeddings: [Float]) {
        precondition(!embeddings.isEmpty && embeddings.count % config.hidden == 0)
        kind = .prompt
        self.config = config
        options = LoRAOptions()
        virtualTokens = embeddings.count / config.hidden
        tensors = [embeddings]
        slots = [[Int?]](repeating: [Int?](repeating: nil, count: Projection.allCases.count), count: config.layers)
    }

    /// DoRA's starting magnitudes, as PEFT sets them: the norms of W + scale · BA (of W, with B zero).
    public mutating func startMagnitudes(base: BaseWeights) {
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
        if kind == .prompt { return [("prompt_embeddings", [virtualTokens, config.hidden])] }
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
        return out
    }

    public var parameterCount: Int { tensors.reduce(0) { $0 + $1.count } }
}
