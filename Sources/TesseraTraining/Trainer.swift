import Foundation
import TesseraEngine
import TesseraKernels
import TesseraModel

/// The shared loop (TRL's shape: one loop, methods plug their loss in): seeded shuffling, micro-batches with
/// gradient accumulation, one normalizer per optimizer step, clipping by global norm, the schedule, the optimizer,
/// validation and events.
public struct Trainer {
    public struct Settings: Sendable {
        public var epochs = 3
        /// Overrides `epochs` when set.
        public var maxSteps: Int?
        public var batchSize = 8
        public var gradientAccumulation = 1
        public var learningRate: Float = 2e-4
        public var schedule: LearningRateSchedule.Kind = .cosine
        public var warmupRatio = 0.03
        public var optimizer: Optimizer.Kind = .adamw
        public var weightDecay: Float = 0
        /// Clip the global gradient norm to this (0: no clipping).
        public var maxGradNorm: Float = 1
        public var seed: UInt64 = 42
        /// Validation loss every this many steps (and at the end), when there is validation data.
        public var evaluateEvery = 50
        /// A checkpoint every this many steps (0: none).
        public var checkpointEvery = 0
        /// Recompute layers in backward (nil: when a batch's activations would pass `AdapterPass.activationBudget`).
        public var gradientCheckpointing: Bool?
        public var precision = TrainingPrecision.auto
        /// Threads of the integer products (nil: the shared pool's, one per core).
        public var threads: Int?

        public init() {}
    }

    public enum Event: Sendable {
        /// `metrics`: the method's own figures (DPO's rewards), means over the step's items.
        case step(step: Int, totalSteps: Int, loss: Double, learningRate: Float, gradNorm: Double, tokens: Int,
                  tokensPerSecond: Double, metrics: [String: Double])
        /// `metrics`: the method's own figures over the held-out items (means), as for a step.
        case validation(step: Int, loss: Double, metrics: [String: Double])
    }

    public let settings: Settings
    public let base: DecoderWeights
    public private(set) var lora: AdapterParameters
    public private(set) var optimizer: Optimizer

    /// Steps already taken (a resumed run starts after them).
    public private(set) var completedSteps = 0

    let pool: ComputePool
    /// The threads passes run on side by side.
    public var threads: Int { pool.threads }

    public init(base: DecoderWeights, lora: AdapterParameters, settings: Settings) {
        self.base = base
        self.lora = lora
        self.settings = settings
        pool = settings.threads.map { ComputePool(threads: $0) } ?? .shared
        optimizer = Optimizer(kind: settings.optimizer, weightDecay: settings.weightDecay)
    }

    /// Continues a checkpointed run: its adapter, its optimizer state and the steps it had taken. The data order and
    /// the schedule are functions of the seed and the step, so the rest of the run is the one it would have been.
    public init(base: DecoderWeights, resuming checkpoint: TrainingCheckpoint, settings: Settings) {
        self.init(base: base, lora: checkpoint.lora, settings: settings)
        optimizer = checkpoint.optimizer
        completedSteps = checkpoint.step
    }

    /// Examples per optimizer step.
    public var examplesPerStep: Int { settings.batchSize * settings.gradientAccumulation }

    public func totalSteps(examples: Int) -> Int {
        settings.maxSteps ?? settings.epochs * max(1, (examples + examplesPerStep - 1) / examplesPerStep)
    }

    /// The order examples are visited in: each epoch a fresh seeded permutation, epochs back to back.
    static func order(count: Int, steps: Int, perStep: Int, seed: UInt64) -> [Int] {
        var out: [Int] = []
        var epoch: UInt64 = 0
        while out.count < steps * perStep {
            var rng = RandomSource(seed: seed &+ epoch &* 0x9E37_79B9)
            var p = Array(0..<count)
            for i in stride(from: count - 1, to: 0, by: -1) { p.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
            out += p
            epoch += 1
        }
        return Array(out.prefix(steps * perStep))
    }

    /// Trains on `examples` (next-token NLL: SFT and pretraining) from `completedSteps` to the end; `events` hears
    /// every step and validation; `checkpoint` is called every `checkpointEvery` steps with this trainer;
    /// `shouldStop` is asked between steps (Ctrl-C). Returns whether it ran to the end.
    @discardableResult
    public mutating func train(_ examples: [TrainingExample], validation: [TrainingExample] = [],
                               events: (Event) -> Void, checkpoint: (Trainer) throws -> Void = { _ in },
                               shouldStop: () -> Bool = { false }) throws -> Bool {
        try train(NLLObjective(), examples, validation: validation, events: events, checkpoint: checkpoint,
                  shouldStop: shouldStop)
    }

    /// The shared loop over any method's items (see `train(_:validation:...)`).
    @discardableResult
    public mutating func train<O: TrainingObjective>(_ objective: O, _ items: [O.Item], validation: [O.Item] = [],
                                                     events: (Event) -> Void, checkpoint: (Trainer) throws -> Void = { _ in },
                                                     shouldStop: () -> Bool = { false }) throws -> Bool {
        let total = totalSteps(examples: items.count)
        let schedule = LearningRateSchedule(kind: settings.schedule, peak: settings.learningRate, totalSteps: total,
                                            warmupRatio: settings.warmupRatio)
        let order = Self.order(count: items.count, steps: total, perStep: examplesPerStep, seed: settings.seed)
        while completedSteps < total {
            if shouldStop() { return false }
            let step = completedSteps
            let started = Date()
            let chosen = try objective.prepare(order[(step * examplesPerStep)..<((step + 1) * examplesPerStep)].map { items[$0] },
                                               lora: lora, step: step)
            let normalizer = max(objective.normalizer(chosen), 1e-12)
            var gradients = lora.tensors.map { [Float](repeating: 0, count: $0.count) }
            var loss = 0.0, metrics: [String: Double] = [:]
            // DoRA's norms depend on the adapter only: computed once for the step's micro-batches.
            let doraNorms = AdapterPass(base: base, lora: lora).doraNorms
            for micro in stride(from: 0, to: chosen.count, by: settings.batchSize) {
                // Dropout masks differ per micro-batch and step, and repeat on a resumed run.
                let pass = AdapterPass(base: base, lora: lora, gradientCheckpointing: settings.gradientCheckpointing,
                                       dropoutSeed: settings.seed &+ UInt64(step) &* 0x1_0000 &+ UInt64(micro),
                                       doraNorms: doraNorms, precision: settings.precision, pool: pool)
                let batch = Array(chosen[micro..<min(micro + settings.batchSize, chosen.count)])
                let (l, m) = objective.accumulate(batch, pass: pass, normalizer: normalizer, into: &gradients, threads: pool.threads)
                loss += l
                metrics.merge(m, uniquingKeysWith: +)
            }
            let norm = Self.clip(&gradients, maxNorm: settings.maxGradNorm)
            let rate = schedule.rate(step)
            optimizer.update(&lora.tensors, gradients, learningRate: rate)
            let tokens = chosen.reduce(0) { $0 + objective.tokens($1) }
            events(.step(step: step + 1, totalSteps: total, loss: loss / normalizer, learningRate: rate,
                         gradNorm: norm, tokens: tokens, tokensPerSecond: Double(tokens) / max(1e-9, Date().timeIntervalSince(started)),
                         metrics: metrics.mapValues { $0 / Double(chosen.count) }))
            completedSteps = step + 1
            if !validation.isEmpty, (step + 1) % settings.evaluateEvery == 0 || step + 1 == total {
                let (loss, metrics) = try evaluation(objective, validation)
                events(.validation(step: step + 1, loss: loss, metrics: metrics))
            }
            if settings.checkpointEvery > 0, (step + 1) % settings.checkpointEvery == 0, step + 1 < total {
                try checkpoint(self)
            }
        }
        return true
    }

    /// `pairs` with their log-likelihoods under `reference` (nil: the base with the adapter off), at this
    /// trainer's precision and threads: DPO's reference, computed once before training.
    public func referenced(_ pairs: [PreferencePair], reference: AdapterParameters? = nil) -> [PreferencePair] {
        return DPOObjective.referenced(pairs, reference: referencePass(reference), batchSize: settings.batchSize, threads: pool.threads)
    }

    /// The reference of methods that stay near one: `adapter` frozen (nil: the base with the adapter off), at this
    /// trainer's precision and threads.
    public func referencePass(_ adapter: AdapterParameters?) -> AdapterPass {
        AdapterPass(base: base, lora: adapter ?? Self.off(base.config), precision: settings.precision, pool: pool)
    }

    /// A teacher at this trainer's precision and threads: the base with `adapter` (nil: the adapter off).
    public func teacher(_ adapter: AdapterParameters?, topK: Int, temperature: Double) -> Teacher {
        Teacher(pass: referencePass(adapter), topK: topK, temperature: temperature)
    }

    /// No adapter: a LoRA without targets.
    static func off(_ c: ModelConfig) -> AdapterParameters { AdapterParameters(config: c, options: LoRAOptions(targets: []), seed: 0) }

    /// Mean weighted NLL of `examples` under the current adapter.
    public func evaluate(_ examples: [TrainingExample]) throws -> Double { try evaluate(NLLObjective(), examples) }

    /// A method's mean loss over held-out items under the current adapter.
    public func evaluate<O: TrainingObjective>(_ objective: O, _ items: [O.Item]) throws -> Double { try evaluation(objective, items).loss }

    /// A method's mean loss and the means of its metrics over held-out items under the current adapter.
    public func evaluation<O: TrainingObjective>(_ objective: O, _ items: [O.Item]) throws -> (loss: Double, metrics: [String: Double]) {
        let pass = AdapterPass(base: base, lora: lora, precision: settings.precision, pool: pool)
        var loss = 0.0, weight = 0.0, metrics: [String: Double] = [:]
        for start in stride(from: 0, to: items.count, by: settings.batchSize) {
            let (l, w, m) = try objective.evaluate(Array(items[start..<min(start + settings.batchSize, items.count)]),
                                               pass: pass, threads: pool.threads)
            loss += l
            weight += w
            metrics.merge(m, uniquingKeysWith: +)
        }
        return (loss / max(weight, 1e-12), metrics.mapValues { $0 / Double(max(items.count, 1)) })
    }

    /// Scales the gradients so their global L2 norm is at most `maxNorm` (0: never), as torch's
    /// `clip_grad_norm_` does; returns the norm before clipping.
    static func clip(_ gradients: inout [[Float]], maxNorm: Float) -> Double {
        let norm = gradients.reduce(0.0) { s, g in g.reduce(s) { $0 + Double($1) * Double($1) } }.squareRoot()
        if maxNorm > 0, norm > Double(maxNorm) {
            let f = Float(Double(maxNorm) / (norm + 1e-6))
            for i in gradients.indices { for j in gradients[i].indices { gradients[i][j] *= f } }
        }
        return norm
    }
}
