/// What a method puts into the shared loop (`Trainer.train(_:_:...)`), as TRL's trainers each bring their loss to
/// one loop: the step's denominator, and the loss and gradients of a micro-batch of the method's items.
public protocol TrainingObjective: Sendable {
    associatedtype Item: Sendable
    /// The step's items made ready with the adapter as it is before the step (on-policy methods sample their
    /// answers here); `step` counts from 0.
    func prepare(_ items: [Item], lora: AdapterParameters, step: Int) throws -> [Item]
    /// The step's denominator: its trained tokens' weight (NLL), its pairs (DPO). Accumulation divides every
    /// micro-batch by the whole step's, so it does not change the result.
    func normalizer(_ step: [Item]) -> Double
    /// Tokens an item puts through the model (throughput).
    func tokens(_ item: Item) -> Int
    /// Adds the gradients of (the micro-batch's loss sum) / `normalizer` into `gradients`; returns that loss sum
    /// and sums over the items of the method's metrics (the loop reports their means).
    func accumulate(_ micro: [Item], pass: AdapterPass, normalizer: Double, into gradients: inout [[Float]],
                    threads: Int) -> (loss: Double, metrics: [String: Double])
    /// The loss sum over held-out items, its denominator, and sums over the items of the method's metrics, without
    /// gradients.
    func evaluate(_ items: [Item], pass: AdapterPass, threads: Int) throws -> (loss: Double, weight: Double, metrics: [String: Double])
}

extension TrainingObjective {
    public func prepare(_ items: [Item], lora: AdapterParameters, step: Int) throws -> [Item] { items }
}

/// Next-token NLL over weighted tokens: SFT and continued pretraining.
public struct NLLObjective: TrainingObjective {
    public init() {}

    public func normalizer(_ step: [TrainingExample]) -> Double { step.reduce(0) { $0 + $1.trainedWeight } }

    public func tokens(_ item: TrainingExample) -> Int { item.tokens.count }

    public func accumulate(_ micro: [TrainingExample], pass: AdapterPass, normalizer: Double, into gradients: inout [[Float]],
                           threads: Int) -> (loss: Double, metrics: [String: Double]) {
        (pass.lossAndGradients(micro, normalizer: normalizer, into: &gradients, threads: threads), [:])
    }

    public func evaluate(_ items: [TrainingExample], pass: AdapterPass, threads: Int) -> (loss: Double, weight: Double, metrics: [String: Double]) {
        (pass.loss(items, threads: threads), normalizer(items), [:])
    }
}
