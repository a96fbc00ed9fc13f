import Foundation
import Testing
import TesseraModel
import TesseraTestSupport
import TesseraTraining

@Suite struct TrainerTests {
    static let base = GradientCheckTests.base

    static func examples() -> [TrainingExample] {
        var rng = SplitMix(21)
        return (0..<6).map { i in
            let tokens = (0..<(4 + i)).map { _ in Int32(rng.next() % 32) }
            return TrainingExample(tokens: tokens, weights: [0] + [Float](repeating: 1, count: tokens.count - 1))
        }
    }

    static func settings() -> Trainer.Settings {
        var s = Trainer.Settings()
        s.batchSize = 2
        s.gradientAccumulation = 1
        s.epochs = 2
        s.learningRate = 1e-2
        s.warmupRatio = 0.2
        return s
    }

    static func lora() -> AdapterParameters {
        var options = LoRAOptions()
        options.rank = 2
        return AdapterParameters(config: base.config, options: options, seed: 1)
    }

    @Test func trainingLowersTheLoss() throws {
        var trainer = Trainer(base: Self.base.weights, lora: Self.lora(), settings: Self.settings())
        let before = try trainer.evaluate(Self.examples())
        var s = Self.settings()
        s.epochs = 20
        trainer = Trainer(base: Self.base.weights, lora: Self.lora(), settings: s)
        var steps = 0
        #expect(try trainer.train(Self.examples(), events: { if case .step = $0 { steps += 1 } }))
        #expect(steps == 60 && trainer.completedSteps == 60)
        #expect(try trainer.evaluate(Self.examples()) < 0.8 * before)
    }

    /// Stopped at a checkpoint and resumed from it, a run ends with exactly the adapter of the uninterrupted run.
    @Test func resumingFromACheckpointGivesTheUninterruptedRun() throws {
        var s = Self.settings()
        s.checkpointEvery = 2
        var whole = Trainer(base: Self.base.weights, lora: Self.lora(), settings: s)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-ckpt-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        var written: [Int] = []
        try whole.train(Self.examples(), events: { _ in }, checkpoint: { t in
            try TrainingCheckpoint(lora: t.lora, optimizer: t.optimizer, step: t.completedSteps)
                .write(to: dir.appendingPathComponent("step-\(t.completedSteps)").path, baseModel: "tiny")
            written.append(t.completedSteps)
        })
        #expect(written == [2, 4])
        let checkpoint = try TrainingCheckpoint.read(dir.appendingPathComponent("step-2").path, config: Self.base.config)
        #expect(checkpoint.step == 2 && checkpoint.optimizer.step == 2)
        var resumed = Trainer(base: Self.base.weights, resuming: checkpoint, settings: s)
        var steps: [Int] = []
        try resumed.train(Self.examples(), events: { if case .step(let n, _, _, _, _, _, _, _) = $0 { steps.append(n) } })
        #expect(steps == [3, 4, 5, 6])
        #expect(resumed.lora.tensors == whole.lora.tensors)
    }

    @Test func stoppingBetweenStepsReportsAnUnfinishedRun() throws {
        var trainer = Trainer(base: Self.base.weights, lora: Self.lora(), settings: Self.settings())
        var asked = 0
        let finished = try trainer.train(Self.examples(), events: { _ in }, shouldStop: {
            asked += 1
            return asked > 2
        })
        #expect(!finished && trainer.completedSteps == 2)
    }

    /// transformers' get_scheduler: warmup from 0 over ceil(ratio × steps), then the decay.
    @Test func schedulesFollowTransformers() {
        let cosine = LearningRateSchedule(kind: .cosine, peak: 1, totalSteps: 10, warmupRatio: 0.03)
        #expect(cosine.warmupSteps == 1 && cosine.rate(0) == 0 && cosine.rate(1) == 1)
        #expect(abs(cosine.rate(1 + 9 / 2) - Float(0.5 * (1 + cos(Double.pi * 4 / 9)))) < 1e-6)
        let linear = LearningRateSchedule(kind: .linear, peak: 2, totalSteps: 8, warmupRatio: 0.25)
        #expect(linear.warmupSteps == 2 && linear.rate(1) == 1 && linear.rate(2) == 2 && linear.rate(5) == 1)
        #expect(LearningRateSchedule(kind: .constant, peak: 3, totalSteps: 5, warmupRatio: 0).rate(4) == 3)
    }

    /// torch.optim.AdamW's first step moves every parameter by lr · sign(g) (bias-corrected moments), after the
    /// decoupled decay; SGD by lr · g.
    @Test func optimizersFollowTorch() {
        var p: [[Float]] = [[1, -2, 0.5]]
        var adam = Optimizer(kind: .adamw, weightDecay: 0.1)
        adam.update(&p, [[0.3, -4, 1e-3]], learningRate: 0.01)
        let expected: [Float] = [1 * 0.999 - 0.01, -2 * 0.999 + 0.01, 0.5 * 0.999 - 0.01 * 1e-3 / (1e-3 + 1e-8)]
        for (a, b) in zip(p[0], expected) { #expect(abs(a - b) < 1e-6) }
        var q: [[Float]] = [[1, 2]]
        var sgd = Optimizer(kind: .sgd)
        sgd.update(&q, [[0.5, -1]], learningRate: 0.1)
        #expect(q == [[0.95, 2.1]])
    }
}
