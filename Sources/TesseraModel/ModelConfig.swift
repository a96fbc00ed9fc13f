/// The decoder description (DESIGN 3.2): every number and choice of a decoder-only transformer that its forward
/// passes read — serving's (`DecoderModel`) and the trainer's — so a model family differs only in the loader that
/// fills it in (`ModelFamily`). Which optional tensors exist (q/k/v/o biases, a head bias) the weights say.
public struct ModelConfig: Sendable, Codable, Equatable {
    /// The feed-forward gate's activation: act(gate) · up.
    public enum Activation: String, Sendable, Codable {
        case silu
        /// GELU with the tanh approximation (Gemma; PyTorch's `gelu_pytorch_tanh`, llama.cpp's `ggml_gelu`).
        case geluTanh
    }

    /// Rotary position embedding of one kind of layer, in the Hugging Face `rotate_half` layout.
    public struct Rotary: Sendable, Codable, Equatable {
        /// The frequency base: inverse frequency i is theta^(-2i/headDim).
        public var theta: Float
        /// Linear scaling: positions are multiplied by this (1 / the file's scaling factor).
        public var positionScale: Float
        /// Llama 3.1+'s per-frequency divisors (`rope_freqs.weight`, what its "llama3" scaling computed), or nil.
        public var frequencyFactors: [Float]?

        public init(theta: Float, positionScale: Float = 1, frequencyFactors: [Float]? = nil) {
            self.theta = theta
            self.positionScale = positionScale
            self.frequencyFactors = frequencyFactors
        }
    }

    public var architecture: String
    /// `general.basename` or `general.name` (empty when the file has neither), for matching adapters to their base.
    public var name: String
    public var layers: Int
    public var hidden: Int
    public var ffn: Int
    public var heads: Int
    public var kvHeads: Int
    /// Per head, for queries, keys and values alike (`attention.key_length`; not always hidden / heads).
    public var headDim: Int
    public var vocab: Int
    public var contextLength: Int
    public var rmsEps: Float

    public var activation: Activation
    /// Scores are q·k times this (1/√headDim unless the family says otherwise).
    public var attentionScale: Float
    /// Each head's query and key RMS-normalized over the head before RoPE (Qwen 3, Gemma 3).
    public var qkNorm: Bool
    /// Attention's and the feed-forward's outputs RMS-normalized before they join the residual (Gemma's "sandwich").
    public var sandwichNorms: Bool
    /// Token embeddings are multiplied by this (Gemma: √hidden); virtual tokens, given as embeddings, are not.
    public var embeddingScale: Float
    /// logits = cap · tanh(logits / cap) when non-zero.
    public var logitSoftcap: Float

    /// RoPE of the global layers.
    public var rope: Rotary
    /// RoPE of the sliding-window layers.
    public var localRope: Rotary
    /// Keys further back than this from the query are masked on sliding-window layers (0: none).
    public var slidingWindow: Int
    /// Which layers slide (empty: none).
    public var slidingLayers: [Bool]

    /// A shape given directly (tests build tiny random models with it); the Llama family's choices by default.
    public init(architecture: String = "llama", name: String = "", layers: Int, hidden: Int, ffn: Int, heads: Int,
                kvHeads: Int, headDim: Int? = nil, vocab: Int, contextLength: Int, ropeTheta: Float = 10000,
                rmsEps: Float = 1e-5) {
        let headDim = headDim ?? hidden / heads
        precondition(heads % kvHeads == 0 && headDim % 2 == 0)
        self.architecture = architecture
        self.name = name
        self.layers = layers
        self.hidden = hidden
        self.ffn = ffn
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.vocab = vocab
        self.contextLength = contextLength
        self.rmsEps = rmsEps
        activation = .silu
        attentionScale = 1 / Float(headDim).squareRoot()
        qkNorm = false
        sandwichNorms = false
        embeddingScale = 1
        logitSoftcap = 0
        rope = Rotary(theta: ropeTheta)
        localRope = rope
        slidingWindow = 0
        slidingLayers = []
    }

    /// The attention window of layer l (0: every earlier position).
    public func window(layer l: Int) -> Int {
        l < slidingLayers.count && slidingLayers[l] ? slidingWindow : 0
    }

    /// The rotary embedding of layer l.
    public func rotary(layer l: Int) -> Rotary {
        l < slidingLayers.count && slidingLayers[l] ? localRope : rope
    }
}
