import TesseraFormats
import TesseraKernels

/// One sequence's part of a forward pass: new tokens after those already in its cache.
public struct SequenceInput: Sendable {
    public var tokens: [Int32]
    public var cache: KVCache
    /// Indices into `tokens` whose next-token logits are wanted.
    public var outputs: [Int]
    /// The sequence's adapters (DESIGN 3.4): one adapter of any kind, or several LoRAs whose deltas add up with their
    /// weights. Virtual tokens and prefix entries go into the cache on the sequence's first pass (empty cache).
    public var adapters: [AppliedAdapter]

    public init(tokens: [Int32], cache: KVCache, outputs: [Int], adapters: [AppliedAdapter] = []) {
        self.tokens = tokens
        self.cache = cache
        self.outputs = outputs
        self.adapters = adapters
    }
}

/// A decoder-only language model over a memory-mapped base. One implementation per architecture.
public protocol LanguageModel: Sendable {
    var config: ModelConfig { get }

    /// Runs every sequence's new tokens in one pass over the weights, appending their keys and values to their caches.
    /// Leaves logits [total outputs, vocab] in `logits`, sequence by sequence in input order, in the array's own
    /// storage when it is unshared: a caller that passes the same array each step (the engine) writes the same
    /// pages, where a fresh array of 32 rows of a 262k vocabulary is 34 MB of new pages each step (measured: 13-19
    /// ms of Gemma 3's 110 ms decode step at 32 sequences). Each sequence's numbers are the same whatever else is in
    /// the batch. Sequences must have distinct caches.
    func forward(_ batch: [SequenceInput], logits: inout [Float]) throws(ModelError)

    /// Bytes of base weights the model reads: its own copies (repacked layouts) plus the mapped tensors it uses.
    /// Held once, however many adapters and sequences there are.
    var weightBytes: Int { get }

    /// Throws unless these adapters can apply to one sequence together (shapes, and only LoRAs compose).
    func check(adapters: [AppliedAdapter]) throws(ModelError)

    /// The base weights of one projection, rows in Hugging Face's order (what PEFT adapters were trained against).
    func weight(layer: Int, _ projection: Projection) -> WeightMatrix
}

extension LanguageModel {
    /// A cache for one sequence of up to `capacity` positions (at most the context length), in a pool of its own.
    public func makeCache(capacity: Int, type: KVCacheType = .standard) -> KVCache {
        let capacity = min(capacity, config.contextLength), blockTokens = 16
        let pool = KVBlockPool(layers: config.layers, width: config.kvHeads * config.headDim, blockTokens: blockTokens,
                               blocks: (capacity + blockTokens - 1) / blockTokens, type: type)
        return KVCache(pool: pool, capacity: capacity)
    }

    /// A pool shared by many sequences' caches, within `bytes`.
    public func makeBlockPool(bytes: Int, blockTokens: Int = 16, type: KVCacheType = .standard) -> KVBlockPool {
        KVBlockPool(config: config, bytes: bytes, blockTokens: blockTokens, type: type)
    }

    /// Logits [total outputs, vocab] in a new array (see `forward(_:logits:)`).
    public func forward(_ batch: [SequenceInput]) throws(ModelError) -> [Float] {
        var logits: [Float] = []
        try forward(batch, logits: &logits)
        return logits
    }

    /// One sequence: logits [outputs.count, vocab].
    public func forward(tokens: [Int32], cache: KVCache, outputs: [Int], adapters: [AppliedAdapter] = []) throws(ModelError) -> [Float] {
        try forward([SequenceInput(tokens: tokens, cache: cache, outputs: outputs, adapters: adapters)])
    }
}

/// Maps `general.architecture` to its family (DESIGN 3.2). A new family is a `ModelFamily` value plus a line there.
public enum ModelRegistry {
    /// The decoder of the file's family; `repack: false` reads every matrix through the mapping (the trainer).
    public static func load(_ gguf: GGUFFile, repack: Bool = true) throws(ModelError) -> DecoderModel {
        guard let arch = gguf.metadata["general.architecture"]?.string else {
            throw ModelError("\(gguf.path): metadata 'general.architecture' is missing")
        }
        guard let family = ModelFamily.all[arch] else {
            let supported = ModelFamily.all.keys.sorted().joined(separator: ", ")
            throw ModelError("\(gguf.path): architecture '\(arch)' is not supported (supported: \(supported))")
        }
        return try DecoderModel(gguf: gguf, family: family, repack: repack)
    }
}
