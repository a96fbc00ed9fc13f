import Foundation

/// `POST /v1/fine_tuning/jobs`' body, in OpenAI's shape plus Tessera's extensions (methods beyond supervised and
/// DPO, and `adapter`), checked field by field: anything unknown or out of range is a 400 naming the field, so a
/// typo never trains with a default the client did not mean.
struct FineTuningRequest {
    var model: String
    var trainingFile: String
    var validationFile: String?
    var suffix: String?
    var seed: Int?
    var metadata: [String: String]?
    var method: String
    var hyperparameters: [String: Any]
    var options: [String: Any]
    var adapter: AdapterSpec

    static let hyperparameterKeys: [String: Set<String>] = [
        "supervised": [], "pretrain": [], "reward": [], "constitutional": [],
        "dpo": ["beta"], "distill": ["temperature"], "rlhf": ["kl_coef", "num_generations"],
    ]
    static let optionKeys: [String: Set<String>] = [
        "supervised": [], "dpo": [], "pretrain": [], "reward": [],
        "distill": ["teacher", "teacher_system", "distill_loss", "on_policy"],
        "rlhf": ["reward_model", "rl_algorithm"], "constitutional": ["constitution", "stages"],
    ]

    init(json: Data) throws(APIError) {
        guard let body = (try? JSONSerialization.jsonObject(with: json)) as? [String: Any] else {
            throw APIError.invalid("the body must be a JSON object")
        }
        let known: Set = ["model", "training_file", "validation_file", "suffix", "seed", "metadata", "hyperparameters", "method",
                          "adapter", "integrations"]
        if let extra = body.keys.sorted().first(where: { !known.contains($0) }) { throw APIError.invalid("unknown field '\(extra)'", param: extra) }
        model = try Self.string(body, "model", required: true)!
        trainingFile = try Self.string(body, "training_file", required: true)!
        validationFile = try Self.string(body, "validation_file")
        suffix = try Self.string(body, "suffix")
        if let s = suffix {
            guard (1...64).contains(s.utf8.count), s.utf8.allSatisfy({ Self.isSuffixByte($0) }) else {
                throw APIError.invalid("suffix must be 1-64 letters, digits, '-' or '_'", param: "suffix")
            }
        }
        if let s = body["seed"], !(s is NSNull) {
            guard let n = s as? NSNumber, !Self.isBool(n), n.doubleValue == n.doubleValue.rounded(), (0...2_147_483_647).contains(n.doubleValue) else {
                throw APIError.invalid("seed must be an integer in 0...2147483647", param: "seed")
            }
            seed = n.intValue
        }
        if let m = body["metadata"], !(m is NSNull) {
            guard let m = m as? [String: Any], m.count <= 16, let strings = m as? [String: String],
                  strings.allSatisfy({ $0.key.count <= 64 && $0.value.count <= 512 }) else {
                throw APIError.invalid("metadata must be an object of at most 16 strings (keys up to 64 characters, values up to 512)", param: "metadata")
            }
            metadata = strings
        }
        if let i = body["integrations"], !(i is NSNull), !((i as? [Any])?.isEmpty ?? false) {
            throw APIError.invalid("integrations are not supported", param: "integrations")
        }
        // The method: `method` ({type, <type>: {hyperparameters, ...}}), or the older top-level `hyperparameters`.
        if let m = body["method"], !(m is NSNull) {
            guard let m = m as? [String: Any], let type = m["type"] as? String else {
                throw APIError.invalid("method must be an object with a 'type'", param: "method")
            }
            guard TrainingSpec.methods.contains(type) else {
                throw APIError.invalid("method.type must be one of \(TrainingSpec.methods.joined(separator: ", "))", param: "method.type")
            }
            if let extra = m.keys.sorted().first(where: { $0 != "type" && $0 != type }) {
                throw APIError.invalid("unknown field 'method.\(extra)' (method.type is '\(type)')", param: "method.\(extra)")
            }
            method = type
            let inner = m[type] as? [String: Any] ?? [:]
            guard m[type] == nil || m[type] is NSNull || m[type] is [String: Any] else {
                throw APIError.invalid("method.\(type) must be an object", param: "method.\(type)")
            }
            hyperparameters = try Self.object(inner["hyperparameters"], "method.\(type).hyperparameters")
            options = inner.filter { $0.key != "hyperparameters" }
            if body["hyperparameters"] != nil, !(body["hyperparameters"] is NSNull) {
                throw APIError.invalid("send hyperparameters in method.\(type).hyperparameters, not both there and at the top level", param: "hyperparameters")
            }
        } else {
            method = "supervised"
            hyperparameters = try Self.object(body["hyperparameters"], "hyperparameters")
            options = [:]
        }
        adapter = try Self.adapter(body["adapter"])
        let type = method
        let allowed = Set(["n_epochs", "batch_size", "learning_rate_multiplier"]).union(Self.hyperparameterKeys[type]!)
        if let extra = hyperparameters.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw APIError.invalid("'\(extra)' is not a hyperparameter of \(type) (it has \(allowed.sorted().joined(separator: ", ")))",
                                   param: "method.\(type).hyperparameters.\(extra)")
        }
        if let extra = options.keys.sorted().first(where: { !Self.optionKeys[type]!.contains($0) }) {
            throw APIError.invalid("unknown field 'method.\(type).\(extra)'", param: "method.\(type).\(extra)")
        }
    }

    /// The resolved spec, "auto" chosen from the number of training rows.
    func spec(examples: Int) throws(APIError) -> TrainingSpec {
        let p = "method.\(method).hyperparameters."
        var spec = TrainingSpec(
            method: method,
            nEpochs: try Self.integer(hyperparameters["n_epochs"], p + "n_epochs", in: 1...50) ?? Hyperparameters.epochs(examples: examples),
            batchSize: try Self.integer(hyperparameters["batch_size"], p + "batch_size", in: 1...256) ?? Hyperparameters.batchSize(examples: examples),
            learningRateMultiplier: try Self.number(hyperparameters["learning_rate_multiplier"], p + "learning_rate_multiplier", in: 1e-4...100) ?? 1,
            adapter: adapter)
        switch method {
        case "dpo":
            spec.beta = try Self.number(hyperparameters["beta"], p + "beta", in: 1e-3...10) ?? 0.1
        case "distill":
            spec.temperature = try Self.number(hyperparameters["temperature"], p + "temperature", in: 0.05...20) ?? 1
            let o = "method.distill."
            spec.teacher = try Self.string(options, "teacher", param: o + "teacher")
            spec.teacherSystem = try Self.string(options, "teacher_system", param: o + "teacher_system")
            spec.distillLoss = try Self.string(options, "distill_loss", param: o + "distill_loss") ?? "forward"
            guard ["forward", "reverse", "jsd"].contains(spec.distillLoss!) else {
                throw APIError.invalid("distill_loss must be forward, reverse or jsd", param: o + "distill_loss")
            }
            if let v = options["on_policy"], !(v is NSNull) {
                guard let b = v as? NSNumber, Self.isBool(b) else { throw APIError.invalid("on_policy must be true or false", param: o + "on_policy") }
                spec.onPolicy = b.boolValue
            }
            guard spec.teacher != nil || spec.teacherSystem != nil else {
                throw APIError.invalid("distillation needs a 'teacher' (a fine-tuned model) or a 'teacher_system' prompt (context distillation)", param: o + "teacher")
            }
        case "rlhf":
            let o = "method.rlhf."
            spec.rewardModel = try Self.string(options, "reward_model", required: true, param: o + "reward_model")
            spec.rlAlgorithm = try Self.string(options, "rl_algorithm", param: o + "rl_algorithm") ?? "grpo"
            guard ["ppo", "grpo", "rloo"].contains(spec.rlAlgorithm!) else {
                throw APIError.invalid("rl_algorithm must be ppo, grpo or rloo", param: o + "rl_algorithm")
            }
            guard spec.rlAlgorithm != "ppo" || adapter.type == "lora" else {
                throw APIError.invalid("ppo puts a value head on the policy: adapter.type must be lora", param: "adapter.type")
            }
            spec.klCoef = try Self.number(hyperparameters["kl_coef"], p + "kl_coef", in: 0...10) ?? 0.05
            spec.numGenerations = try Self.integer(hyperparameters["num_generations"], p + "num_generations", in: 2...64) ?? 4
        case "constitutional":
            let o = "method.constitutional."
            guard let list = options["constitution"] as? [Any], !list.isEmpty, list.count <= 64 else {
                throw APIError.invalid("constitution must be a list of 1-64 {\"critique\", \"revision\"} requests", param: o + "constitution")
            }
            spec.constitution = try list.enumerated().map { (i, item) throws(APIError) in
                guard let r = item as? [String: Any], let c = r["critique"] as? String, let v = r["revision"] as? String,
                      !c.isEmpty, !v.isEmpty, c.utf8.count <= 4096, v.utf8.count <= 4096, r.count == 2 else {
                    throw APIError.invalid("constitution[\(i)] must be {\"critique\": text, \"revision\": text}, each at most 4096 bytes", param: o + "constitution")
                }
                return TrainingSpec.ConstitutionRule(critique: c, revision: v)
            }
            let stages = try Self.string(options, "stages", param: o + "stages") ?? "sft,dpo"
            let parts = stages.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard !parts.isEmpty, parts.allSatisfy({ ["sft", "dpo"].contains($0) }), Set(parts).count == parts.count else {
                throw APIError.invalid("stages must be sft, dpo or sft,dpo", param: o + "stages")
            }
            spec.stages = parts
        case "reward":
            guard ["lora", "dora"].contains(adapter.type) else {
                throw APIError.invalid("a reward model is a LoRA (or DoRA) with a score head: adapter.type must be lora or dora", param: "adapter.type")
            }
        default: break
        }
        return spec
    }

    static func isSuffixByte(_ b: UInt8) -> Bool {
        (0x30...0x39).contains(b) || (0x41...0x5a).contains(b) || (0x61...0x7a).contains(b) || b == 0x2d || b == 0x5f
    }

    /// JSONSerialization gives true and false as NSNumbers of type char (and no JSON number is parsed as one).
    static func isBool(_ n: NSNumber) -> Bool { String(cString: n.objCType) == "c" }

    static func object(_ value: Any?, _ param: String) throws(APIError) -> [String: Any] {
        guard let value, !(value is NSNull) else { return [:] }
        guard let o = value as? [String: Any] else { throw APIError.invalid("\(param) must be an object", param: param) }
        return o
    }

    static func string(_ o: [String: Any], _ key: String, required: Bool = false, param: String? = nil) throws(APIError) -> String? {
        guard let v = o[key], !(v is NSNull) else {
            if required { throw APIError.invalid("missing required field '\(param ?? key)'", param: param ?? key) }
            return nil
        }
        guard let s = v as? String, !s.isEmpty, s.utf8.count <= 8192 else {
            throw APIError.invalid("\(param ?? key) must be a non-empty string of at most 8192 bytes", param: param ?? key)
        }
        return s
    }

    /// A number, or nil for "auto" (or absent).
    static func number(_ value: Any?, _ param: String, in range: ClosedRange<Double>) throws(APIError) -> Double? {
        guard let value, !(value is NSNull), (value as? String) != "auto" else { return nil }
        guard let n = value as? NSNumber, !isBool(n), range.contains(n.doubleValue) else {
            throw APIError.invalid("\(param) must be \"auto\" or a number in \(range.lowerBound)...\(range.upperBound)", param: param)
        }
        return n.doubleValue
    }

    static func integer(_ value: Any?, _ param: String, in range: ClosedRange<Int>) throws(APIError) -> Int? {
        guard let d = try number(value, param, in: Double(range.lowerBound)...Double(range.upperBound)) else { return nil }
        guard d == d.rounded() else { throw APIError.invalid("\(param) must be \"auto\" or an integer in \(range)", param: param) }
        return Int(d)
    }

    static func adapter(_ value: Any?) throws(APIError) -> AdapterSpec {
        let o = try object(value, "adapter")
        if let extra = o.keys.sorted().first(where: { !["type", "rank", "alpha", "target_modules", "num_virtual_tokens"].contains($0) }) {
            throw APIError.invalid("unknown field 'adapter.\(extra)'", param: "adapter.\(extra)")
        }
        let type = try string(o, "type", param: "adapter.type") ?? "lora"
        guard AdapterSpec.types.contains(type) else {
            throw APIError.invalid("adapter.type must be one of \(AdapterSpec.types.joined(separator: ", "))", param: "adapter.type")
        }
        var spec = AdapterSpec(type: type)
        if ["lora", "dora"].contains(type) {
            spec.rank = try integer(o["rank"], "adapter.rank", in: 1...256) ?? 16
            spec.alpha = try number(o["alpha"], "adapter.alpha", in: 1e-3...4096) ?? Double(2 * spec.rank!)
            if let t = o["target_modules"], !(t is NSNull) {
                let names = (t as? [Any])?.compactMap { $0 as? String } ?? ((t as? String).map { [$0] } ?? [])
                guard !names.isEmpty, names.count == ((t as? [Any])?.count ?? 1),
                      names == ["all-linear"] || names.allSatisfy({ AdapterSpec.projections.contains($0) }) else {
                    throw APIError.invalid("adapter.target_modules must be \"all-linear\" or a list of \(AdapterSpec.projections.joined(separator: ", "))", param: "adapter.target_modules")
                }
                spec.targetModules = Array(Set(names)).sorted()
            } else {
                spec.targetModules = ["all-linear"]
            }
            guard o["num_virtual_tokens"] == nil else { throw APIError.invalid("num_virtual_tokens is for the prompt, p- and prefix tuning kinds", param: "adapter.num_virtual_tokens") }
        } else {
            spec.numVirtualTokens = try integer(o["num_virtual_tokens"], "adapter.num_virtual_tokens", in: 1...512) ?? 20
            for k in ["rank", "alpha", "target_modules"] where o[k] != nil {
                throw APIError.invalid("adapter.\(k) is for lora and dora", param: "adapter.\(k)")
            }
        }
        return spec
    }
}
