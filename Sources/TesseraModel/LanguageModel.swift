import TesseraFormats

/// One sequence's part of a forward pass: new tokens after those already in its cache.
public struct SequenceInput: Sendable {
    public var tokens: [Int32]
    public var cache: KVCache
    /// Indices into `tokens` whose next-token logits are wanted.
    public var outputs: [Int]

    public init(tokens: [Int32], cache: KVCache, outputs: [Int]) {
        self.tokens = tokens
        self.cache = cache
        self.outputs = outputs
    }
}

/// A decoder-only language model over a memory-mapped base. One implementation per architecture.
public protocol LanguageModel: Sendable {
    var config: ModelConfig { get }

    /// Runs every sequence's new tokens in one pass over the weights, appending their keys and values to their caches.
    /// Returns logits [total outputs, vocab], sequence by sequence in input order. Each sequence's numbers are the
    /// same whatever else is in the batch. Sequences must have distinct caches.
    func forward(_ batch: [SequenceInput]) throws(ModelError) -> [Float]

    /// A cache for one sequence of up to `capacity` tokens.
    func makeCache(capacity: Int) -> KVCache
}

extension LanguageModel {
    /// One sequence: logits [outputs.count, vocab].
    public func forward(tokens: [Int32], cache: KVCache, outputs: [Int]) throws(ModelError) -> [Float] {
        try forward([SequenceInput(tokens: tokens, cache: cache, outputs: outputs)])
    }
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
