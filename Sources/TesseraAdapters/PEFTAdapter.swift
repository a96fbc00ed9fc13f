import Foundation
import TesseraFormats
import TesseraKernels
import TesseraModel

/// The PEFT adapter kinds Tessera serves.
public enum AdapterKind: String, Sendable, CaseIterable {
    case lora = "LORA", dora = "DORA", promptTuning = "PROMPT_TUNING", pTuning = "P_TUNING", prefixTuning = "PREFIX_TUNING"
}

/// A PEFT adapter checked against the base model and converted to the model's terms.
public struct LoadedAdapter: Sendable {
    public let kind: AdapterKind
    public let weights: AdapterWeights
    /// Things worth telling the user that do not stop the adapter (a different base model name, for one).
    public let warnings: [String]

    public init(kind: AdapterKind, weights: AdapterWeights, warnings: [String]) {
        self.kind = kind
        self.weights = weights
        self.warnings = warnings
    }
}

/// Reads PEFT's `adapter_config.json` + `adapter_model.safetensors` (DESIGN 4) and validates every tensor against the
/// base model before anything is served. Refusals name the file or field and the reason.
public enum PEFTAdapter {
    public struct Limits: Sendable {
        public var maxRank: Int
        public var maxVirtualTokens: Int
        public var maxFileBytes: Int

        public init(maxRank: Int = 64, maxVirtualTokens: Int = 256, maxFileBytes: Int = 512 << 20) {
            self.maxRank = maxRank
            self.maxVirtualTokens = maxVirtualTokens
            self.maxFileBytes = maxFileBytes
        }
    }

    /// Loads a PEFT directory as `save_pretrained` writes it. Deltas are held in `precision`: `.f32` keeps them exact
    /// (to store), the default is what the kernels run.
    public static func load(
        directory: String, model: any LanguageModel, limits: Limits = .init(), precision: LowRankDelta.Precision = .selected
    ) throws(AdapterError) -> LoadedAdapter {
        let dir = URL(fileURLWithPath: directory)
        let configURL = dir.appendingPathComponent("adapter_config.json")
        let weightsURL = dir.appendingPathComponent("adapter_model.safetensors")
        let fm = FileManager.default
        guard fm.fileExists(atPath: configURL.path) else { throw AdapterError("\(directory): no adapter_config.json") }
        guard fm.fileExists(atPath: weightsURL.path) else {
            if fm.fileExists(atPath: dir.appendingPathComponent("adapter_model.bin").path) {
                throw AdapterError("\(directory): adapter_model.bin is a pickle file, which is refused (it can run code); save the adapter with safetensors (save_pretrained's default)")
            }
            throw AdapterError("\(directory): no adapter_model.safetensors")
        }
        return try load(config: try read(configURL, limit: 1 << 20), weights: try read(weightsURL, limit: limits.maxFileBytes),
                        model: model, limits: limits, precision: precision)
    }

    private static func read(_ url: URL, limit: Int) throws(AdapterError) -> Data {
        let size = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? nil
        guard let size else { throw AdapterError("\(url.lastPathComponent): cannot be read") }
        guard size <= limit else { throw AdapterError("\(url.lastPathComponent): \(size) bytes is over the limit of \(limit)") }
        guard let data = try? Data(contentsOf: url) else { throw AdapterError("\(url.lastPathComponent): cannot be read") }
        return data
    }

    /// Loads an adapter from the two files' bytes (an upload, or the store).
    public static func load(config configData: Data, weights weightsData: Data, model: any LanguageModel,
                            limits: Limits = .init(), precision: LowRankDelta.Precision = .selected) throws(AdapterError) -> LoadedAdapter {
        let config = try PEFTConfig.decode(configData)
        let file: Safetensors
        do {
            file = try Safetensors(bytes: weightsData, name: "adapter_model.safetensors")
        } catch {
            throw AdapterError(error.description)
        }
        var warnings: [String] = []
        let base = model.config.name
        if let claimed = config.baseModelNameOrPath, !base.isEmpty {
            let last = claimed.split(separator: "/").last.map(String.init)?.lowercased() ?? ""
            if !last.contains(base.lowercased()) && !base.lowercased().contains(last) {
                warnings.append("adapter_config.json: base_model_name_or_path '\(claimed)' does not name this base model ('\(base)')")
            }
        }
        if config.isRewardModel {
            warnings.append("a reward model: its LoRA is served, its score head is not (score with `tessera score --reward-model`)")
        }
        switch config.peftType {
        case "LORA":
            let (weights, dora) = try LoRALoader(config: config, file: file, model: model, limits: limits, precision: precision).load()
            return LoadedAdapter(kind: dora ? .dora : .lora, weights: weights, warnings: warnings)
        case "PROMPT_TUNING", "P_TUNING":
            let kind: AdapterKind = config.peftType == "P_TUNING" ? .pTuning : .promptTuning
            let c = model.config
            let values = try promptEmbeddings(file, config: config, width: c.hidden, widthName: "hidden size \(c.hidden)", limits: limits)
            let weights = AdapterWeights(deltas: AdapterWeights.noDeltas(c), virtualTokens: values, virtualTokenCount: values.count / c.hidden)
            return LoadedAdapter(kind: kind, weights: weights, warnings: warnings)
        case "PREFIX_TUNING":
            let c = model.config
            if let layers = config.numLayers, layers != c.layers {
                throw AdapterError("adapter_config.json: num_layers is \(layers) but the base model has \(c.layers) layers")
            }
            let kvWidth = c.kvHeads * c.headDim
            let values = try promptEmbeddings(file, config: config, width: c.layers * 2 * kvWidth,
                                              widthName: "\(c.layers) layers x 2 x \(kvWidth) (key and value width)", limits: limits)
            let n = values.count / (c.layers * 2 * kvWidth)
            let weights = AdapterWeights(deltas: AdapterWeights.noDeltas(c), prefix: values, prefixTokenCount: n)
            return LoadedAdapter(kind: .prefixTuning, weights: weights, warnings: warnings)
        default:
            throw AdapterError("adapter_config.json: peft_type '\(config.peftType)' is not supported (LORA, PROMPT_TUNING, P_TUNING, PREFIX_TUNING are)")
        }
    }

    /// The one `prompt_embeddings` tensor of prompt, P- and prefix tuning: [num_virtual_tokens, width].
    private static func promptEmbeddings(_ file: Safetensors, config: PEFTConfig, width: Int, widthName: String,
                                         limits: Limits) throws(AdapterError) -> [Float] {
        for name in file.tensors.keys where name != "prompt_embeddings" {
            throw AdapterError("adapter_model.safetensors: tensor '\(name)' is not part of a \(config.peftType) adapter (only prompt_embeddings is)")
        }
        guard let t = file.tensors["prompt_embeddings"] else {
            throw AdapterError("adapter_model.safetensors: no tensor 'prompt_embeddings'")
        }
        guard t.shape.count == 2, t.shape[1] == width else {
            throw AdapterError("adapter_model.safetensors: prompt_embeddings is \(t.shape), expected [num_virtual_tokens, \(width)] for \(widthName)")
        }
        let n = t.shape[0]
        guard n > 0, n <= limits.maxVirtualTokens else {
            throw AdapterError("adapter_model.safetensors: \(n) virtual tokens, allowed 1...\(limits.maxVirtualTokens)")
        }
        if let declared = config.numVirtualTokens, declared != n {
            throw AdapterError("adapter_config.json: num_virtual_tokens is \(declared) but prompt_embeddings has \(n) rows")
        }
        let values = try floats(file, "prompt_embeddings")
        return values
    }

    static func floats(_ file: Safetensors, _ name: String) throws(AdapterError) -> [Float] {
        let values: [Float]
        do {
            values = try file.floats(name)
        } catch {
            throw AdapterError(error.description)
        }
        guard values.allSatisfy(\.isFinite) else {
            throw AdapterError("adapter_model.safetensors: tensor '\(name)' holds NaN or infinite values")
        }
        return values
    }
}
