import Foundation

/// What a job trains, as the trainer will run it: the method, its hyperparameters with "auto" already chosen from
/// the data (`Hyperparameters`), the method's own options, and the adapter. Stored with the job as JSON.
public struct TrainingSpec: Codable, Sendable, Equatable {
    /// supervised, dpo (OpenAI's), or Tessera's pretrain, distill, reward, rlhf, constitutional.
    public var method: String
    public var nEpochs: Int
    public var batchSize: Int
    public var learningRateMultiplier: Double
    /// DPO's beta.
    public var beta: Double?
    /// Distillation: the teacher (the base's id or a fine-tuned model of the tenant's), its hidden system prompt,
    /// the divergence, the temperature, and whether answers are the student's own samples.
    public var teacher: String?
    public var teacherSystem: String?
    public var distillLoss: String?
    public var temperature: Double?
    public var onPolicy: Bool?
    /// RLHF: a reward model of the tenant's (made by a `reward` job), the algorithm, samples per prompt, KL weight.
    public var rewardModel: String?
    public var rlAlgorithm: String?
    public var numGenerations: Int?
    public var klCoef: Double?
    /// Constitutional AI: the critique/revision requests and the stages trained on the revisions.
    public var constitution: [ConstitutionRule]?
    public var stages: [String]?
    public var adapter: AdapterSpec

    public struct ConstitutionRule: Codable, Sendable, Equatable {
        public var critique: String
        public var revision: String
    }

    public static let methods = ["supervised", "dpo", "pretrain", "distill", "reward", "rlhf", "constitutional"]

    /// The trainer's `--method`.
    var trainerMethod: String {
        switch method {
        case "supervised": "sft"
        default: method
        }
    }

    /// The learning rate a multiplier of 1 means: what measured well for each method and adapter kind
    /// (tools/train/*_check.py: LoRA SFT and RLHF at 1e-3, DPO at 5e-4); the soft-prompt kinds move embeddings, which
    /// need steps ten times larger (PEFT's prompt-tuning recipes).
    var baseLearningRate: Double {
        let lora = method == "dpo" ? 5e-4 : 1e-3
        return ["lora", "dora"].contains(adapter.type) ? lora : lora * 10
    }
}

/// The adapter a job trains (Tessera's extension `adapter`): PEFT's kinds and their sizes.
public struct AdapterSpec: Codable, Sendable, Equatable {
    /// lora, dora, prompt_tuning, p_tuning or prefix_tuning.
    public var type: String
    public var rank: Int?
    public var alpha: Double?
    public var targetModules: [String]?
    public var numVirtualTokens: Int?

    public static let types = ["lora", "dora", "prompt_tuning", "p_tuning", "prefix_tuning"]
    public static let projections = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

    /// The trainer's `--adapter-type`.
    var trainerType: String {
        switch type {
        case "prompt_tuning": "prompt"
        case "p_tuning": "p-tuning"
        case "prefix_tuning": "prefix"
        default: type
        }
    }

    public static let lora = AdapterSpec(type: "lora", rank: 16, alpha: 32, targetModules: ["all-linear"], numVirtualTokens: nil)
}
