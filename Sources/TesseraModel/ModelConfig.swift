import TesseraFormats

/// Shape and hyper-parameters of a decoder-only transformer, read from GGUF metadata.
public struct ModelConfig: Sendable, Codable, Equatable {
    public var architecture: String
    /// `general.basename` or `general.name` (empty when the file has neither), for matching adapters to their base.
    public var name: String
    public var layers: Int
    public var hidden: Int
    public var ffn: Int
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    public var vocab: Int
    public var contextLength: Int
    public var ropeTheta: Float
    public var rmsEps: Float

    /// A shape given directly (tests build tiny random models with it).
    public init(architecture: String = "llama", name: String = "", layers: Int, hidden: Int, ffn: Int, heads: Int,
                kvHeads: Int, vocab: Int, contextLength: Int, ropeTheta: Float = 10000, rmsEps: Float = 1e-5) {
        precondition(hidden % heads == 0 && heads % kvHeads == 0 && (hidden / heads) % 2 == 0)
        self.architecture = architecture
        self.name = name
        self.layers = layers
        self.hidden = hidden
        self.ffn = ffn
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = hidden / heads
        self.vocab = vocab
        self.contextLength = contextLength
        self.ropeTheta = ropeTheta
        self.rmsEps = rmsEps
    }

    /// Reads `{arch}.*` keys; every value is range-checked so a hostile file cannot ask for absurd buffers.
    public init(gguf: GGUFFile, vocab: Int) throws(ModelError) {
        do {
            let arch = try gguf.string("general.architecture")
            func int(_ key: String, _ range: ClosedRange<Int>) throws -> Int {
                let v = try gguf.int("\(arch).\(key)")
                guard range.contains(v) else { throw ModelError("\(gguf.path): \(arch).\(key) = \(v) is outside \(range)") }
                return v
            }
            architecture = arch
            name = gguf.metadata["general.basename"]?.string ?? gguf.metadata["general.name"]?.string ?? ""
            layers = try int("block_count", 1...1024)
            hidden = try int("embedding_length", 1...65536)
            ffn = try int("feed_forward_length", 1...262_144)
            heads = try int("attention.head_count", 1...1024)
            kvHeads = gguf.metadata["\(arch).attention.head_count_kv"] == nil ? heads : try int("attention.head_count_kv", 1...1024)
            contextLength = try int("context_length", 1...(1 << 24))
            ropeTheta = Float(gguf.metadata["\(arch).rope.freq_base"]?.double ?? 10000)
            rmsEps = Float(try gguf.double("\(arch).attention.layer_norm_rms_epsilon"))
            self.vocab = vocab
            guard hidden % heads == 0, heads % kvHeads == 0 else {
                throw ModelError("\(gguf.path): \(heads) heads and \(kvHeads) KV heads do not divide a hidden size of \(hidden)")
            }
            headDim = hidden / heads
            guard headDim % 2 == 0 else { throw ModelError("\(gguf.path): head size \(headDim) is odd; RoPE needs pairs") }
            if let rot = gguf.metadata["\(arch).rope.dimension_count"]?.int, rot != headDim {
                throw ModelError("\(gguf.path): partial rotary embeddings (\(rot) of \(headDim)) are not supported")
            }
        } catch let e as ModelError {
            throw e
        } catch {
            throw ModelError("\(error)")
        }
    }
}
