import Foundation

/// The fields of PEFT's `adapter_config.json` that Tessera reads. Unknown fields are ignored; known fields that
/// would change the arithmetic in ways Tessera does not implement are refused by `PEFTAdapter`.
public struct PEFTConfig: Decodable, Sendable {
    public var peftType: String
    public var baseModelNameOrPath: String?
    // LoRA and DoRA
    public var r: Int?
    public var loraAlpha: Double?
    public var useRslora: Bool?
    public var useDora: Bool?
    public var targetModules: StringOrList?
    public var rankPattern: [String: Int]?
    public var alphaPattern: [String: Double]?
    public var layersToTransform: IntOrList?
    public var modulesToSave: [String]?
    /// PEFT's task; "SEQ_CLS" with `modules_to_save: ["score"]` is a reward model (`tessera train --method reward`).
    public var taskType: String?

    /// A reward model: a LoRA plus a one-score head. Serving runs its LoRA on the backbone and leaves the head out
    /// (scores come from `tessera score --reward-model`, or RLHF); nothing else in `modules_to_save` is served.
    public var isRewardModel: Bool { taskType == "SEQ_CLS" && modulesToSave == ["score"] }
    public var bias: String?
    public var fanInFanOut: Bool?
    public var loraBias: Bool?
    public var layerReplication: [[Int]]?
    public var trainableTokenIndices: AnyValue?
    public var targetParameters: AnyValue?
    public var useQalora: Bool?
    public var aloraInvocationTokens: AnyValue?
    // Prompt, P- and prefix tuning
    public var numVirtualTokens: Int?
    public var tokenDim: Int?
    public var numLayers: Int?

    public enum StringOrList: Decodable, Sendable {
        case regex(String)
        case list([String])

        public init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let s = try? c.decode(String.self) { self = .regex(s) } else { self = .list(try c.decode([String].self)) }
        }
    }

    public enum IntOrList: Decodable, Sendable {
        case one(Int)
        case list([Int])

        public init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let n = try? c.decode(Int.self) { self = .one(n) } else { self = .list(try c.decode([Int].self)) }
        }

        public var values: [Int] {
            switch self {
            case .one(let n): [n]
            case .list(let l): l
            }
        }
    }

    /// Any JSON value; only whether it is null or empty matters.
    public struct AnyValue: Decodable, Sendable {
        public let isEmpty: Bool

        public init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() { isEmpty = true } else if let l = try? c.decode([AnyValue].self) { isEmpty = l.isEmpty }
            else if let d = try? c.decode([String: AnyValue].self) { isEmpty = d.isEmpty } else { isEmpty = false }
        }
    }

    enum CodingKeys: String, CodingKey {
        case peftType = "peft_type", baseModelNameOrPath = "base_model_name_or_path", r, loraAlpha = "lora_alpha"
        case useRslora = "use_rslora", useDora = "use_dora", targetModules = "target_modules"
        case rankPattern = "rank_pattern", alphaPattern = "alpha_pattern", layersToTransform = "layers_to_transform"
        case modulesToSave = "modules_to_save", taskType = "task_type", bias, fanInFanOut = "fan_in_fan_out", loraBias = "lora_bias"
        case layerReplication = "layer_replication", trainableTokenIndices = "trainable_token_indices"
        case targetParameters = "target_parameters", useQalora = "use_qalora"
        case aloraInvocationTokens = "alora_invocation_tokens"
        case numVirtualTokens = "num_virtual_tokens", tokenDim = "token_dim", numLayers = "num_layers"
    }

    /// Parses the file's bytes; the error names the field that did not decode.
    public static func decode(_ data: Data) throws(AdapterError) -> PEFTConfig {
        do {
            return try JSONDecoder().decode(PEFTConfig.self, from: data)
        } catch let DecodingError.keyNotFound(key, _) {
            throw AdapterError("adapter_config.json: '\(key.stringValue)' is missing")
        } catch let DecodingError.typeMismatch(_, context) {
            throw AdapterError("adapter_config.json: '\(context.codingPath.map(\.stringValue).joined(separator: "."))' has the wrong type")
        } catch {
            throw AdapterError("adapter_config.json is not valid JSON")
        }
    }
}
