import Foundation
import TesseraFormats
import TesseraModel

/// An adapter as `peft` saves it: `adapter_config.json` and `adapter_model.safetensors` (F32 tensors: LoRA's
/// `base_model.model.model.layers.{i}.{module}.lora_{A,B}.weight`; prompt, P- and prefix tuning's `prompt_embeddings`,
/// the encoder's output where there is one), so `peft`, `tessera serve` and `--init-adapter` all read what the
/// trainer writes. A checkpoint adds the encoder's own tensors (`prompt_encoder.safetensors`), which PEFT does not
/// save, so that training can go on through it.
public enum PEFTDirectory {
    public struct Error: Swift.Error, CustomStringConvertible {
        public let description: String
        public init(_ message: String) { description = message }
    }

    /// Writes the adapter to `path` atomically: a sibling temporary directory, every file synced, then renamed over
    /// whatever was there, so a crash leaves either the old adapter or the new one.
    public static func write(_ lora: AdapterParameters, to path: String, baseModel: String) throws(Error) {
        try writeAtomically(path, files: try files(lora, baseModel: baseModel))
    }

    static let encoderFile = "prompt_encoder.safetensors"

    /// The two files of the adapter, by name (three with `encoder`, for an adapter that has one).
    static func files(_ lora: AdapterParameters, baseModel: String, encoder: Bool = false) throws(Error) -> [String: Data] {
        let o = lora.options, c = lora.config
        let virtual: [String: Any] = [
            "task_type": "CAUSAL_LM", "num_virtual_tokens": lora.virtualTokens, "num_transformer_submodules": 1,
            "num_layers": c.layers, "inference_mode": true, "base_model_name_or_path": baseModel,
        ]
        let encoderHidden = lora.encoderHidden > 0 ? lora.encoderHidden : nil
        var config: [String: Any]
        switch lora.kind {
        case .prompt:
            config = virtual.merging(["peft_type": "PROMPT_TUNING", "token_dim": c.hidden, "num_attention_heads": c.heads,
                                      "prompt_tuning_init": "RANDOM"]) { $1 }
        case .pTuning:
            config = virtual.merging(["peft_type": "P_TUNING", "token_dim": c.hidden, "num_attention_heads": c.heads,
                                      "encoder_reparameterization_type": "MLP", "encoder_hidden_size": encoderHidden ?? c.hidden,
                                      "encoder_num_layers": 2, "encoder_dropout": 0.0]) { $1 }
        case .prefix:  // PEFT's GQA form: a key's width and the KV heads
            config = virtual.merging(["peft_type": "PREFIX_TUNING", "token_dim": c.kvHeads * c.headDim,
                                      "num_attention_heads": c.kvHeads, "prefix_projection": encoderHidden != nil,
                                      "encoder_hidden_size": encoderHidden ?? c.kvHeads * c.headDim]) { $1 }
        case .lora: config = [
            "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": o.rank, "lora_alpha": Double(o.alpha),
            "lora_dropout": Double(o.dropout), "use_rslora": o.rsLoRA, "use_dora": o.dora, "bias": "none",
            "fan_in_fan_out": false, "inference_mode": true, "init_lora_weights": true,
            "target_modules": Projection.allCases.filter { o.targets.contains($0) }.map(\.description).sorted(),
            "base_model_name_or_path": baseModel, "rank_pattern": [String: Any](), "alpha_pattern": [String: Any](),
            "modules_to_save": NSNull(), "layers_to_transform": NSNull(),
        ]
        }
        if lora.hasScoreHead {  // a reward model: PEFT's sequence classification, the head saved whole
            config["task_type"] = "SEQ_CLS"
            config["modules_to_save"] = ["score"]
        }
        let json: Data
        do {
            json = try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
        } catch {
            throw Error("cannot encode adapter_config.json: \(error)")
        }
        let own = zip(lora.names, lora.tensors).map { (name: $0.name, shape: $0.shape, values: $1) }
        let tensors = lora.encoderHidden > 0
            ? [(name: "prompt_embeddings", shape: [lora.virtualTokens, AdapterParameters.rowWidth(lora.kind, c)], values: lora.virtualRows)]
            : own
        var files = ["adapter_config.json": json, "adapter_model.safetensors": Safetensors.encode(tensors, metadata: ["format": "pt"])]
        if encoder, lora.encoderHidden > 0 { files[encoderFile] = Safetensors.encode(own, metadata: ["format": "pt"]) }
        return files
    }

    static func writeAtomically(_ path: String, files: [String: Data]) throws(Error) {
        let fm = FileManager.default
        let url = URL(fileURLWithPath: path).standardizedFileURL
        let parent = url.deletingLastPathComponent()
        let temporary = parent.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        let old = parent.appendingPathComponent(".\(url.lastPathComponent).old-\(getpid())")
        do {
            try fm.createDirectory(at: parent, withIntermediateDirectories: true)
            try? fm.removeItem(at: temporary)
            try fm.createDirectory(at: temporary, withIntermediateDirectories: false)
            for (name, data) in files {
                let file = temporary.appendingPathComponent(name)
                guard fm.createFile(atPath: file.path, contents: data) else { throw Error("cannot write \(file.path)") }
                try sync(file.path)
            }
            try sync(temporary.path)
            if fm.fileExists(atPath: url.path) {
                try fm.moveItem(at: url, to: old)
                try fm.moveItem(at: temporary, to: url)
                try fm.removeItem(at: old)
            } else {
                try fm.moveItem(at: temporary, to: url)
            }
            try sync(parent.path)
        } catch let e as Error {
            try? fm.removeItem(at: temporary)
            throw e
        } catch {
            try? fm.removeItem(at: temporary)
            throw Error("cannot write the adapter to \(path): \(error.localizedDescription)")
        }
    }

    private static func sync(_ path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw Error("cannot open \(path) to sync it") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw Error("fsync of \(path) failed") }
    }

    /// The fields of `adapter_config.json` a LoRA needs.
    struct Config: Decodable {
        var peftType: String
        var r: Int?
        var loraAlpha: Double?
        var loraDropout: Double?
        var useRslora: Bool?
        var useDora: Bool?
        var targetModules: [String]?
        var numVirtualTokens: Int?
        var encoderReparameterizationType: String?
        var taskType: String?

        enum CodingKeys: String, CodingKey {
            case peftType = "peft_type", r, loraAlpha = "lora_alpha", loraDropout = "lora_dropout"
            case useRslora = "use_rslora", useDora = "use_dora", targetModules = "target_modules"
            case numVirtualTokens = "num_virtual_tokens", encoderReparameterizationType = "encoder_reparameterization_type"
            case taskType = "task_type"
        }
    }

    /// Reads an adapter saved by `peft` (or by the trainer) to start training from: its config fixes the kind and,
    /// for LoRA, rank, scaling and targets; every adapted projection must be in every layer with the shapes of
    /// `config`.
    public static func read(_ path: String, config c: ModelConfig) throws(Error) -> AdapterParameters {
        let dir = URL(fileURLWithPath: path)
        guard let json = FileManager.default.contents(atPath: dir.appendingPathComponent("adapter_config.json").path) else {
            throw Error("\(path): no adapter_config.json")
        }
        let config: Config
        do { config = try JSONDecoder().decode(Config.self, from: json) } catch { throw Error("\(path)/adapter_config.json: \(error)") }
        let file = dir.appendingPathComponent("adapter_model.safetensors")
        guard let bytes = FileManager.default.contents(atPath: file.path) else { throw Error("\(path): no adapter_model.safetensors") }
        let st: Safetensors
        do { st = try Safetensors(bytes: bytes, name: file.lastPathComponent) } catch { throw Error("\(file.path): \(error)") }
        let kinds: [String: AdapterParameters.Kind] = ["PROMPT_TUNING": .prompt, "P_TUNING": .pTuning, "PREFIX_TUNING": .prefix]
        if let kind = kinds[config.peftType] {
            if kind == .pTuning, let type = config.encoderReparameterizationType, type != "MLP" {
                throw Error("\(path): P-tuning with a \(type) encoder does not train here (the MLP encoder does)")
            }
            let width = AdapterParameters.rowWidth(kind, c)
            guard let n = config.numVirtualTokens, n > 0, let t = st.tensors["prompt_embeddings"], t.shape == [n, width] else {
                throw Error("\(file.path): needs prompt_embeddings of [num_virtual_tokens, \(width)]")
            }
            let encoder = dir.appendingPathComponent(encoderFile)
            if kind != .prompt, let bytes = FileManager.default.contents(atPath: encoder.path) {
                return try readEncoder(bytes, kind: kind, tokens: n, config: c, file: encoder.path)
            }
            // PEFT keeps only the encoder's output: what trains from here is those rows.
            do { return AdapterParameters(config: c, kind: kind, rows: try st.floats("prompt_embeddings")) } catch {
                throw Error("\(file.path): \(error)")
            }
        }
        guard config.peftType == "LORA" else {
            throw Error("\(path): peft_type \(config.peftType) is not one of LORA, PROMPT_TUNING, P_TUNING, PREFIX_TUNING")
        }
        guard let r = config.r, r > 0, let targets = config.targetModules, !targets.isEmpty else {
            throw Error("\(path)/adapter_config.json: needs r and a list of target_modules")
        }
        var options = LoRAOptions()
        options.rank = r
        options.alpha = Float(config.loraAlpha ?? 8)
        options.rsLoRA = config.useRslora ?? false
        options.dropout = Float(config.loraDropout ?? 0)
        options.dora = config.useDora ?? false
        guard !options.dora || options.dropout == 0 else {
            throw Error("\(path): DoRA with lora_dropout \(options.dropout) does not train here yet (only without dropout)")
        }
        options.targets = try targets.map { (name: String) throws(Error) -> Projection in
            guard let p = Projection(peftName: name) else {
                throw Error("\(path): target module '\(name)' is not one of \(Projection.allCases.map(\.description).joined(separator: ", "))")
            }
            return p
        }.sorted { $0.rawValue < $1.rawValue }
        var lora = AdapterParameters(config: c, options: options, seed: 0)
        if config.taskType == "SEQ_CLS" {
            guard let t = st.tensors[AdapterParameters.scoreName], t.shape == [1, c.hidden] else {
                throw Error("\(file.path): a SEQ_CLS adapter needs '\(AdapterParameters.scoreName)' of [1, \(c.hidden)] (one score)")
            }
            lora.addScoreHead(seed: 0)
        }
        if st.tensors[AdapterParameters.valueName] != nil {  // a PPO checkpoint
            guard !lora.hasScoreHead else { throw Error("\(file.path): a reward model's score head and PPO's value head together") }
            lora.addValueHead()
        }
        for (i, (name, shape)) in lora.names.enumerated() {
            // Older peft versions name the magnitude `lora_magnitude_vector.weight`.
            let stored = st.tensors[name] == nil && name.hasSuffix("lora_magnitude_vector") ? name + ".weight" : name
            guard let t = st.tensors[stored] else { throw Error("\(file.path): tensor '\(name)' is missing") }
            guard t.shape == shape else { throw Error("\(file.path): tensor '\(name)' is \(t.shape), expected \(shape)") }
            do { lora.tensors[i] = try st.floats(stored) } catch { throw Error("\(file.path): \(error)") }
        }
        return lora
    }

    /// A checkpoint's encoder: the embedding and every layer under PEFT's names, the hidden width from the first
    /// layer's weight and every shape checked against it.
    static func readEncoder(_ bytes: Data, kind: AdapterParameters.Kind, tokens n: Int, config c: ModelConfig,
                            file: String) throws(Error) -> AdapterParameters {
        do {
            let st = try Safetensors(bytes: bytes, name: (file as NSString).lastPathComponent)
            let names = PromptEncoder.names(kind)
            guard let first = st.tensors[names[1]], first.shape.count == 2, (1...65536).contains(first.shape[0]) else {
                throw Error("\(file): no '\(names[1])' of [hidden, inputs]")
            }
            let shapes = PromptEncoder.shapes(kind: kind, config: c, hidden: first.shape[0], tokens: n)
            var tensors: [[Float]] = []
            for (name, shape) in zip(names, shapes) {
                guard let t = st.tensors[name], t.shape == shape else { throw Error("\(file): '\(name)' is missing or not \(shape)") }
                tensors.append(try st.floats(name))
            }
            return AdapterParameters(config: c, kind: kind, encoderHidden: first.shape[0], tensors: tensors)
        } catch let e as Error {
            throw e
        } catch {
            throw Error("\(file): \(error)")
        }
    }
}
