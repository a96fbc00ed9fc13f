import TesseraKernels

/// The frozen base's tensors as the trainer reads them (DESIGN 3.12): views into the model's memory (the mapped file
/// or its repacked copies; `WeightMatrix.dequantizeRow` reads either), rows in Hugging Face's order.
public struct BaseWeights: @unchecked Sendable {
    public struct Layer: Sendable {
        public let attnNorm: [Float]  // [hidden]
        public let ffnNorm: [Float]  // [hidden]
        /// q, k, v, o, gate, up, down, in `Projection` order.
        public let projections: [WeightMatrix]

        public init(attnNorm: [Float], ffnNorm: [Float], projections: [WeightMatrix]) {
            self.attnNorm = attnNorm
            self.ffnNorm = ffnNorm
            self.projections = projections
        }

        public subscript(_ p: Projection) -> WeightMatrix { projections[p.rawValue] }
    }

    public let config: ModelConfig
    public let embedding: WeightMatrix  // [vocab, hidden]
    public let output: WeightMatrix  // [vocab, hidden]; the embedding when tied
    public let outputNorm: [Float]  // [hidden]
    public let layers: [Layer]
    /// Keeps the memory of the views alive (the model, or a test's buffers).
    public let owner: AnyObject

    public init(config: ModelConfig, embedding: WeightMatrix, output: WeightMatrix, outputNorm: [Float], layers: [Layer],
                owner: AnyObject) {
        self.config = config
        self.embedding = embedding
        self.output = output
        self.outputNorm = outputNorm
        self.layers = layers
        self.owner = owner
    }
}

extension LlamaModel {
    /// The weights for training, kept alive by the model.
    public var baseWeights: BaseWeights {
        BaseWeights(
            config: config, embedding: embedding, output: output, outputNorm: outputNorm,
            layers: blocks.map { b in
                .init(attnNorm: b.attnNorm, ffnNorm: b.ffnNorm, projections: [b.q, b.k, b.v, b.o, b.gate, b.up, b.down])
            },
            owner: self)
    }
}
