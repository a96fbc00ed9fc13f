import Foundation
import Testing
import TesseraAdapters
import TesseraFormats
import TesseraModel
import TesseraTestSupport

/// Every refusal, with its exact message: the user reads these (the server returns them with a 422).
@Suite struct AdapterRefusalTests {
    static let model = AdapterParityTests.model
    static let prefix = "base_model.model.model.layers."

    nonisolated(unsafe) static let loraConfig: [String: Any] = [
        "peft_type": "LORA", "r": 2, "lora_alpha": 4, "target_modules": ["q_proj", "v_proj"],
        "base_model_name_or_path": "HuggingFaceTB/SmolLM2-135M-Instruct",
    ]

    /// A rank-2 LoRA on layer 0's q_proj ([192 or 576] outputs from 576 inputs).
    static func loraTensors(rank: Int = 2, value: Float = 0.01) -> [(name: String, shape: [Int], values: [Float])] {
        [
            (prefix + "0.self_attn.q_proj.lora_A.weight", [rank, 576], Array(repeating: value, count: rank * 576)),
            (prefix + "0.self_attn.q_proj.lora_B.weight", [576, rank], Array(repeating: value, count: rank * 576)),
        ]
    }

    func load(_ config: [String: Any], _ tensors: [(name: String, shape: [Int], values: [Float])], maxRank: Int = 64) throws -> LoadedAdapter {
        let json = try JSONSerialization.data(withJSONObject: config)
        return try PEFTAdapter.load(config: json, weights: Safetensors.encode(tensors), model: Self.model,
                                    limits: .init(maxRank: maxRank))
    }

    func refusal(_ config: [String: Any], _ tensors: [(name: String, shape: [Int], values: [Float])], maxRank: Int = 64) -> String {
        do {
            _ = try load(config, tensors, maxRank: maxRank)
            return "accepted"
        } catch let e as AdapterError {
            return e.message
        } catch {
            return "\(error)"
        }
    }

    func with(_ changes: [String: Any]) -> [String: Any] { Self.loraConfig.merging(changes) { $1 } }

    @Test func aSmallValidLoRALoads() throws {
        let a = try load(Self.loraConfig, Self.loraTensors())
        #expect(a.kind == .lora && a.warnings.isEmpty)
        #expect(a.weights.deltas[0][Projection.q.rawValue]?.rank == 2)
    }

    @Test func unsupportedFieldsAreRefusedByName() {
        let t = Self.loraTensors()
        #expect(refusal(with(["modules_to_save": ["lm_head"]]), t)
                == "adapter_config.json: modules_to_save [\"lm_head\"] is not supported: Tessera never replaces base modules, only adds deltas")
        #expect(refusal(with(["bias": "all"]), t) == "adapter_config.json: bias 'all' is not supported (only 'none')")
        #expect(refusal(with(["fan_in_fan_out": true]), t)
                == "adapter_config.json: fan_in_fan_out is for GPT-2 style Conv1D layers, which Llama has none of")
        #expect(refusal(with(["peft_type": "IA3"]), t)
                == "adapter_config.json: peft_type 'IA3' is not supported (LORA, PROMPT_TUNING, P_TUNING, PREFIX_TUNING are)")
        #expect(refusal(with(["r": 0]), t) == "adapter_config.json: r is missing or not positive")
        #expect(refusal(["r": 2], t) == "adapter_config.json: 'peft_type' is missing")
        #expect(refusal(with(["r": "two"]), t) == "adapter_config.json: 'r' has the wrong type")
    }

    @Test func tensorsAreCheckedAgainstTheBaseModel() {
        let q = Self.prefix + "0.self_attn.q_proj."
        #expect(refusal(Self.loraConfig, Self.loraTensors(rank: 80), maxRank: 64)
                == "adapter_model.safetensors: model.layers.0.self_attn.q_proj has rank 80, allowed 1...64")
        #expect(refusal(Self.loraConfig, Self.loraTensors(rank: 3))
                == "adapter_config.json: r (or rank_pattern) gives model.layers.0.self_attn.q_proj rank 2, but its tensors have rank 3")
        #expect(refusal(Self.loraConfig, [(q + "lora_A.weight", [2, 500], Array(repeating: 0, count: 1000)), Self.loraTensors()[1]])
                == "adapter_model.safetensors: '\(q)lora_A.weight' is [2, 500], expected [r, 576]")
        #expect(refusal(Self.loraConfig, [Self.loraTensors()[0]]) == "adapter_model.safetensors: model.layers.0.self_attn.q_proj has no lora_B tensor")
        #expect(refusal(Self.loraConfig, [Self.loraTensors()[0], (q + "lora_B.weight", [192, 2], Array(repeating: 0, count: 384))])
                == "adapter_model.safetensors: '\(q)lora_B.weight' is [192, 2], expected [576, 2]")
        #expect(refusal(Self.loraConfig, Self.loraTensors(value: .nan))
                == "adapter_model.safetensors: tensor '\(q)lora_A.weight' holds NaN or infinite values")
        let l40 = Self.loraTensors().map { (name: $0.name.replacingOccurrences(of: "layers.0.", with: "layers.40."), shape: $0.shape, values: $0.values) }
        #expect(refusal(Self.loraConfig, l40)
                == "adapter_model.safetensors: tensor '\(Self.prefix)40.self_attn.q_proj.lora_A.weight' is for layer 40, but the base model has 30 layers")
        #expect(refusal(Self.loraConfig, [("base_model.model.model.embed_tokens.lora_embedding_A", [2, 49152], Array(repeating: 0, count: 98304))])
                == "adapter_model.safetensors: tensor 'base_model.model.model.embed_tokens.lora_embedding_A' adapts the embeddings or the output head, which is not supported (only the attention and MLP projections are)")
        #expect(refusal(Self.loraConfig, [("base_model.model.transformer.h.0.attn.c_attn.lora_A.weight", [2, 576], Array(repeating: 0, count: 1152))])
                == "adapter_model.safetensors: tensor 'base_model.model.transformer.h.0.attn.c_attn.lora_A.weight' is not a LoRA tensor of a Llama layer's attention or MLP projection (an adapter for another architecture?)")
        #expect(refusal(with(["target_modules": ["v_proj"]]), Self.loraTensors())
                == "adapter_model.safetensors: model.layers.0.self_attn.q_proj has LoRA tensors but target_modules does not select it")
        #expect(refusal(with(["layers_to_transform": [3]]), Self.loraTensors())
                == "adapter_model.safetensors: layer 0 has LoRA tensors but is not in layers_to_transform [3]")
        #expect(refusal(with(["use_dora": true]), Self.loraTensors())
                == "adapter_model.safetensors: model.layers.0.self_attn.q_proj has no lora_magnitude_vector (use_dora is set)")
        #expect(refusal(Self.loraConfig, []) == "adapter_model.safetensors: no LoRA tensors")
    }

    @Test func promptAndPrefixShapesAreChecked() {
        let prompt: [String: Any] = ["peft_type": "PROMPT_TUNING", "num_virtual_tokens": 4]
        #expect(refusal(prompt, [("prompt_embeddings", [4, 100], Array(repeating: 0, count: 400))])
                == "adapter_model.safetensors: prompt_embeddings is [4, 100], expected [num_virtual_tokens, 576] for hidden size 576")
        #expect(refusal(prompt, [("prompt_embeddings", [3, 576], Array(repeating: 0, count: 1728))])
                == "adapter_config.json: num_virtual_tokens is 4 but prompt_embeddings has 3 rows")
        #expect(refusal(prompt, [("prompt_embeddings", [4, 576], Array(repeating: 0, count: 2304)), ("extra", [1], [0])])
                == "adapter_model.safetensors: tensor 'extra' is not part of a PROMPT_TUNING adapter (only prompt_embeddings is)")
        let prefix: [String: Any] = ["peft_type": "PREFIX_TUNING", "num_virtual_tokens": 2, "num_layers": 30]
        // The pre-GQA layout (2 x hidden per layer) is not what this model's attention reads.
        #expect(refusal(prefix, [("prompt_embeddings", [2, 30 * 2 * 576], Array(repeating: 0, count: 2 * 30 * 2 * 576))])
                == "adapter_model.safetensors: prompt_embeddings is [2, 34560], expected [num_virtual_tokens, 11520] for 30 layers x 2 x 192 (key and value width)")
        #expect(refusal(prefix.merging(["num_layers": 24]) { $1 }, [])
                == "adapter_config.json: num_layers is 24 but the base model has 30 layers")
    }

    @Test func picklesAndMissingFilesAreRefused() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-adapter-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        func message() -> String {
            do { _ = try PEFTAdapter.load(directory: dir.path, model: Self.model); return "accepted" } catch { return error.message }
        }
        #expect(message() == "\(dir.path): no adapter_config.json")
        try JSONSerialization.data(withJSONObject: Self.loraConfig).write(to: dir.appendingPathComponent("adapter_config.json"))
        #expect(message() == "\(dir.path): no adapter_model.safetensors")
        try Data("pickle".utf8).write(to: dir.appendingPathComponent("adapter_model.bin"))
        #expect(message() == "\(dir.path): adapter_model.bin is a pickle file, which is refused (it can run code); save the adapter with safetensors (save_pretrained's default)")
    }

    /// A reward model (SEQ_CLS, the score head in modules_to_save) serves its LoRA, as the same LoRA without the head
    /// does, and says the head is left out; the same head under any other task is still refused.
    @Test func aRewardModelServesItsLoRA() throws {
        let head = [(name: "base_model.model.score.weight", shape: [1, 576], values: [Float](repeating: 0.1, count: 576))]
        let reward = try load(with(["task_type": "SEQ_CLS", "modules_to_save": ["score"]]), Self.loraTensors() + head)
        let plain = try load(Self.loraConfig, Self.loraTensors())
        #expect(reward.kind == .lora && reward.warnings.count == 1 && reward.warnings[0].hasPrefix("a reward model"))
        #expect(reward.weights.deltas[0][Projection.q.rawValue]?.rank == plain.weights.deltas[0][Projection.q.rawValue]?.rank)
        #expect(refusal(with(["task_type": "CAUSAL_LM", "modules_to_save": ["score"]]), Self.loraTensors() + head).contains("modules_to_save"))
    }

    @Test func aDifferentBaseModelIsAWarning() throws {
        let a = try load(with(["base_model_name_or_path": "meta-llama/Llama-3.2-1B"]), Self.loraTensors())
        #expect(a.warnings == ["adapter_config.json: base_model_name_or_path 'meta-llama/Llama-3.2-1B' does not name this base model ('smollm2')"])
    }
}
