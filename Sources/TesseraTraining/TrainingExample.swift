/// One training sequence: its tokens and, per token, the weight of predicting it (0: context only). The first
/// token is never a target, since nothing predicts it.
public struct TrainingExample: Sendable, Equatable {
    public var tokens: [Int32]
    /// [tokens.count]; weights[0] is 0.
    public var weights: [Float]

    public init(tokens: [Int32], weights: [Float]) {
        precondition(tokens.count == weights.count)
        self.tokens = tokens
        self.weights = weights
        if !self.weights.isEmpty { self.weights[0] = 0 }
    }

    /// Weight of all trained tokens (the loss's denominator, summed over an optimizer step).
    public var trainedWeight: Double { weights.reduce(0) { $0 + Double($1) } }
    public var trainedTokens: Int { weights.count { $0 > 0 } }
}
