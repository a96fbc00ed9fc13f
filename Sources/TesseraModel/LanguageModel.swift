import TesseraFormats

/// A decoder-only language model over a memory-mapped base. One implementation per architecture.
public protocol LanguageModel: Sendable {
    var config: ModelConfig { get }

    /// Runs `tokens` through the model after the tokens already in `cache`, appending their keys and values.
    /// Returns logits [outputs.count, vocab] for the token indices listed in `outputs` (row-major).
    func forward(tokens: [Int32], cache: KVCache, outputs: [Int]) throws(ModelError) -> [Float]

    /// A cache for one sequence of up to `capacity` tokens.
    func makeCache(capacity: Int) -> KVCache
}

/// Maps `general.architecture` to the loader of that architecture. A new architecture is one new file plus a line here.
public enum ModelRegistry {
    public typealias Loader = @Sendable (GGUFFile) throws(ModelError) -> any LanguageModel

    public static let loaders: [String: Loader] = [
        "llama": { (f) throws(ModelError) in try LlamaModel(gguf: f) },
    ]

    public static func load(_ gguf: GGUFFile) throws(ModelError) -> any LanguageModel {
        guard let arch = gguf.metadata["general.architecture"]?.string else {
            throw ModelError("\(gguf.path): metadata 'general.architecture' is missing")
        }
        guard let loader = loaders[arch] else {
            throw ModelError("\(gguf.path): architecture '\(arch)' is not supported (supported: \(loaders.keys.sorted().joined(separator: ", ")))")
        }
        return try loader(gguf)
    }
}
