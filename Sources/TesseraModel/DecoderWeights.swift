import TesseraKernels

/// The weights of a decoder (DESIGN 3.2), one struct for every family, read by the serving forward and by the
/// trainer (DESIGN 3.12): views into the model's memory (the mapped file or its repacked copies;
/// `WeightMatrix.dequantizeRow` reads either), rows in Hugging Face's order. Optional parts are nil where the
/// family has none.
public struct DecoderWeights: @unchecked Sendable {
    public struct Layer: Sendable {
        public let attnNorm: [Float]  // [hidden]
        /// Gemma's post-attention norm, before the residual add.
        public let attnPostNorm: [Float]?
        public let ffnNorm: [Float]  // [hidden]
        /// Gemma's post-feed-forward norm.
        public let ffnPostNorm: [Float]?
        /// Per-head query and key norms [headDim] (Qwen 3, Gemma 3).
        public let qNorm: [Float]?
        public let kNorm: [Float]?
        /// q, k, v, o, gate, up, down, in `Projection` order.
        public let projections: [WeightMatrix]
        /// Their biases, in the same order (Qwen 2's q, k, v).
        public let biases: [[Float]?]

        public init(attnNorm: [Float], attnPostNorm: [Float]? = nil, ffnNorm: [Float], ffnPostNorm: [Float]? = nil,
                    qNorm: [Float]? = nil, kNorm: [Float]? = nil, projections: [WeightMatrix],
                    biases: [[Float]?] = Array(repeating: nil, count: Projection.allCases.count)) {
            self.attnNorm = attnNorm
            self.attnPostNorm = attnPostNorm
            self.ffnNorm = ffnNorm
            self.ffnPostNorm = ffnPostNorm
            self.qNorm = qNorm
            self.kNorm = kNorm
            self.projections = projections
            self.biases = biases
        }

        public subscript(_ p: Projection) -> WeightMatrix { projections[p.rawValue] }
        public func bias(_ p: Projection) -> [Float]? { biases[p.rawValue] }
    }

    public let config: ModelConfig
    public let embedding: WeightMatrix  // [vocab, hidden]
    public let output: WeightMatrix  // [vocab, hidden]; the embedding when tied
    public let outputNorm: [Float]  // [hidden]
    /// A bias on the logits [vocab] (some Qwen 2 files), or nil.
    public let outputBias: [Float]?
    public let layers: [Layer]
    /// Keeps the memory of the views alive (the model, or a test's buffers).
    public let owner: AnyObject

    public init(config: ModelConfig, embedding: WeightMatrix, output: WeightMatrix, outputNorm: [Float],
                outputBias: [Float]? = nil, layers: [Layer], owner: AnyObject) {
        self.config = config
        self.embedding = embedding
        self.output = output
        self.outputNorm = outputNorm
        self.outputBias = outputBias
        self.layers = layers
        self.owner = owner
    }
}
