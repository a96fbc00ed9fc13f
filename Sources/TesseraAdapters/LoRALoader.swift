import Foundation
import TesseraFormats
import TesseraKernels
import TesseraModel

/// LoRA and DoRA tensors of a PEFT file, checked against the base model and turned into `LowRankDelta`s with the
/// scale folded into B (DESIGN 3.4, 4).
struct LoRALoader {
    let config: PEFTConfig
    let file: Safetensors
    let model: any LanguageModel
    let limits: PEFTAdapter.Limits
    let precision: LowRankDelta.Precision

    /// A reward model's score head (`PEFTConfig.isRewardModel`), not served.
    static let scoreHead = "base_model.model.score.weight"

    /// PEFT's key for a layer's projection: base_model.model.model.layers.{i}.{module}.{part}, or
    /// …model.language_model.layers… when the adapter was trained on Gemma 3's multimodal class (its text decoder is
    /// the same one).
    private static let keyPattern = try! NSRegularExpression(
        pattern: #"^base_model\.model\.model\.(?:language_model\.)?layers\.(\d+)\.(self_attn\.[qkvo]_proj|mlp\.(?:gate|up|down)_proj)\.(lora_A\.weight|lora_B\.weight|lora_magnitude_vector(?:\.weight)?)$"#)

    private struct Parts {
        var a: String?
        var b: String?
        var magnitude: String?
    }

    func load() throws(AdapterError) -> (AdapterWeights, dora: Bool) {
        try refuseUnsupported()
        let c = model.config
        let dora = config.useDora ?? false
        var parts: [Int: [Projection: Parts]] = [:]
        for name in file.tensors.keys.sorted() where !(config.isRewardModel && name == Self.scoreHead) {
            let range = NSRange(name.startIndex..., in: name)
            guard let m = Self.keyPattern.firstMatch(in: name, range: range),
                  let layer = Int(name[Range(m.range(at: 1), in: name)!]),
                  let projection = Projection.allCases.first(where: { $0.peftModule == String(name[Range(m.range(at: 2), in: name)!]) })
            else {
                if name.contains("embed_tokens") || name.contains("lm_head") {
                    throw AdapterError("adapter_model.safetensors: tensor '\(name)' adapts the embeddings or the output head, which is not supported (only the attention and MLP projections are)")
                }
                throw AdapterError("adapter_model.safetensors: tensor '\(name)' is not a LoRA tensor of a Llama layer's attention or MLP projection (an adapter for another architecture?)")
            }
            guard layer < c.layers else {
                throw AdapterError("adapter_model.safetensors: tensor '\(name)' is for layer \(layer), but the base model has \(c.layers) layers")
            }
            let part = String(name[Range(m.range(at: 3), in: name)!])
            var p = parts[layer, default: [:]][projection, default: Parts()]
            if part == "lora_A.weight" { p.a = name } else if part == "lora_B.weight" { p.b = name } else {
                guard dora else {
                    throw AdapterError("adapter_model.safetensors: tensor '\(name)' is a DoRA magnitude, but adapter_config.json does not set use_dora")
                }
                p.magnitude = name
            }
            parts[layer, default: [:]][projection] = p
        }
        guard !parts.isEmpty else { throw AdapterError("adapter_model.safetensors: no LoRA tensors") }
        var deltas = AdapterWeights.noDeltas(c)
        for (layer, projections) in parts {
            try checkTargeted(layer: layer, projections: Array(projections.keys))
            for (projection, p) in projections {
                deltas[layer][projection.rawValue] = try delta(layer: layer, projection, p, dora: dora)
            }
        }
        return (AdapterWeights(deltas: deltas), dora)
    }

    /// Fields that would change the arithmetic in ways this loader does not implement.
    private func refuseUnsupported() throws(AdapterError) {
        func refuse(_ field: String, _ why: String) -> AdapterError { AdapterError("adapter_config.json: \(field) \(why)") }
        if let m = config.modulesToSave, !m.isEmpty, !config.isRewardModel {
            throw refuse("modules_to_save", "\(m) is not supported: Tessera never replaces base modules, only adds deltas")
        }
        if let b = config.bias, b != "none" { throw refuse("bias", "'\(b)' is not supported (only 'none')") }
        if config.loraBias == true { throw refuse("lora_bias", "is not supported") }
        if config.fanInFanOut == true { throw refuse("fan_in_fan_out", "is for GPT-2 style Conv1D layers, which Llama has none of") }
        if let l = config.layerReplication, !l.isEmpty { throw refuse("layer_replication", "is not supported") }
        if config.trainableTokenIndices.map({ !$0.isEmpty }) == true { throw refuse("trainable_token_indices", "(embedding training) is not supported") }
        if config.targetParameters.map({ !$0.isEmpty }) == true { throw refuse("target_parameters", "is not supported") }
        if config.useQalora == true { throw refuse("use_qalora", "is not supported") }
        if config.aloraInvocationTokens.map({ !$0.isEmpty }) == true { throw refuse("alora_invocation_tokens", "(aLoRA) is not supported") }
        guard let r = config.r, r > 0 else { throw refuse("r", "is missing or not positive") }
        guard config.loraAlpha != nil else { throw refuse("lora_alpha", "is missing") }
    }

    /// The module key PEFT matches target_modules, rank_pattern and alpha_pattern against.
    private func moduleKey(_ layer: Int, _ p: Projection) -> String { "model.layers.\(layer).\(p.peftModule)" }

    private func checkTargeted(layer: Int, projections: [Projection]) throws(AdapterError) {
        if let allowed = config.layersToTransform?.values, !allowed.contains(layer) {
            throw AdapterError("adapter_model.safetensors: layer \(layer) has LoRA tensors but is not in layers_to_transform \(allowed)")
        }
        for p in projections {
            let targeted: Bool
            switch config.targetModules {
            case .list(let names): targeted = names.contains { moduleKey(layer, p) == $0 || moduleKey(layer, p).hasSuffix("." + $0) }
            case .regex(let pattern): targeted = fullMatch(pattern, moduleKey(layer, p))
            case nil: targeted = true
            }
            guard targeted else {
                throw AdapterError("adapter_model.safetensors: \(moduleKey(layer, p)) has LoRA tensors but target_modules does not select it")
            }
        }
    }

    private func fullMatch(_ pattern: String, _ key: String) -> Bool {
        guard let re = try? NSRegularExpression(pattern: "^(?:\(pattern))$") else { return false }
        return re.firstMatch(in: key, range: NSRange(key.startIndex..., in: key)) != nil
    }

    /// PEFT's pattern lookup: the pattern key whose regex matches the end of the module key ("(.*\.)?pattern$").
    private func patternValue<T>(_ patterns: [String: T]?, _ key: String) -> T? {
        guard let patterns else { return nil }
        for (pattern, value) in patterns.sorted(by: { $0.key < $1.key }) {
            guard let re = try? NSRegularExpression(pattern: #"^(?:.*\.)?(?:"# + pattern + ")$") else { continue }
            if re.firstMatch(in: key, range: NSRange(key.startIndex..., in: key)) != nil { return value }
        }
        return nil
    }

    private func delta(layer: Int, _ projection: Projection, _ p: Parts, dora: Bool) throws(AdapterError) -> LowRankDelta {
        let key = moduleKey(layer, projection)
        guard let aName = p.a, let bName = p.b else {
            throw AdapterError("adapter_model.safetensors: \(key) has \(p.a == nil ? "no lora_A" : "no lora_B") tensor")
        }
        let (outputs, inputs) = projection.shape(model.config)
        let aShape = file.tensors[aName]!.shape, bShape = file.tensors[bName]!.shape
        guard aShape.count == 2, aShape[1] == inputs else {
            throw AdapterError("adapter_model.safetensors: '\(aName)' is \(aShape), expected [r, \(inputs)]")
        }
        let rank = aShape[0]
        guard bShape == [outputs, rank] else {
            throw AdapterError("adapter_model.safetensors: '\(bName)' is \(bShape), expected [\(outputs), \(rank)]")
        }
        guard rank > 0, rank <= limits.maxRank else {
            throw AdapterError("adapter_model.safetensors: \(key) has rank \(rank), allowed 1...\(limits.maxRank)")
        }
        let declared = patternValue(config.rankPattern, key) ?? config.r!
        guard declared == rank else {
            throw AdapterError("adapter_config.json: r (or rank_pattern) gives \(key) rank \(declared), but its tensors have rank \(rank)")
        }
        let alpha = patternValue(config.alphaPattern, key) ?? config.loraAlpha!
        let scale = Float((config.useRslora ?? false) ? alpha / Double(rank).squareRoot() : alpha / Double(rank))
        let a = try PEFTAdapter.floats(file, aName)
        let b = try PEFTAdapter.floats(file, bName).map { $0 * scale }
        var doraScale: [Float]?
        if dora {
            guard let mName = p.magnitude else { throw AdapterError("adapter_model.safetensors: \(key) has no lora_magnitude_vector (use_dora is set)") }
            let mShape = file.tensors[mName]!.shape
            guard mShape == [outputs] else { throw AdapterError("adapter_model.safetensors: '\(mName)' is \(mShape), expected [\(outputs)]") }
            let magnitude = try PEFTAdapter.floats(file, mName)
            doraScale = doraScales(layer: layer, projection, a: a, b: b, rank: rank, magnitude: magnitude)
        }
        return LowRankDelta(rank: rank, inputs: inputs, outputs: outputs, a: a, b: b, doraScale: doraScale, precision: precision)
    }

    /// DoRA's per-row factor magnitude / ||W + s·BA|| (PEFT's weight norm over each output row), with B already scaled.
    private func doraScales(layer: Int, _ projection: Projection, a: [Float], b: [Float], rank: Int, magnitude: [Float]) -> [Float] {
        let w = model.weight(layer: layer, projection)
        let inputs = w.columns
        var row = [Float](repeating: 0, count: inputs)
        return (0..<w.rows).map { j in
            w.dequantizeRow(j, into: &row)
            var sum = 0.0
            for i in 0..<inputs {
                var v = Double(row[i])
                for k in 0..<rank { v += Double(b[j * rank + k]) * Double(a[k * inputs + i]) }
                sum += v * v
            }
            return sum > 0 ? Float(Double(magnitude[j]) / sum.squareRoot()) : 0
        }
    }
}
