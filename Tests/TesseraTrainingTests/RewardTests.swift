import Foundation
import Testing
import TesseraModel
import TesseraTestSupport
import TesseraTraining

/// Reward models on the tiny random model: the Bradley–Terry backward (the score head and the LoRA under it) against
/// finite differences, a run that learns to rank, and PEFT's sequence-classification files read back to the same
/// scores.
@Suite struct RewardTests {
    static let base = TinyBase()

    static func model(seed: UInt64 = 3, moved: Bool) -> AdapterParameters {
        var options = LoRAOptions()
        options.rank = 2
        options.alpha = 4
        var lora = AdapterParameters(config: base.config, options: options, seed: seed)
        if moved {
            var rng = SplitMix(37)
            for i in lora.tensors.indices { lora.tensors[i] = rng.floats(lora.tensors[i].count).map { $0 * 0.5 } }
        }
        lora.addScoreHead(seed: seed)
        return lora
    }

    static func loss(_ lora: AdapterParameters, _ pairs: [PreferencePair]) -> Double {
        let (sum, weight, _) = RewardObjective().evaluate(pairs, pass: AdapterPass(base: base.weights, lora: lora, precision: .fp32), threads: 2)
        return sum / weight
    }

    @Test func gradientsMatchFiniteDifferences() {
        var lora = Self.model(moved: true)
        var rng = SplitMix(43)
        lora.tensors[lora.tensors.count - 1] = rng.floats(Self.base.config.hidden)  // a head that reads the residual
        let pairs = DPOTests.pairs()
        var gradients = lora.tensors.map { [Float](repeating: 0, count: $0.count) }
        _ = RewardObjective().accumulate(pairs, pass: AdapterPass(base: Self.base.weights, lora: lora, precision: .fp32),
                                         normalizer: Double(pairs.count), into: &gradients, threads: 2)
        let checked = FiniteDifferences.check(lora, gradients, rng: &rng,
                                              included: { $0.contains("layers.1.") || $0 == AdapterParameters.scoreName }) {
            Self.loss($0, pairs)
        }
        #expect(checked >= 3)
    }

    @Test func trainingLearnsToRank() throws {
        var settings = Trainer.Settings()
        settings.precision = .fp32
        settings.batchSize = 4
        settings.maxSteps = 30
        settings.learningRate = 3e-2
        settings.schedule = .constant
        settings.warmupRatio = 0
        var trainer = Trainer(base: Self.base.weights, lora: Self.model(moved: false), settings: settings)
        let pairs = DPOTests.pairs(4)
        var losses: [Double] = [], validated: [String: Double] = [:]
        try trainer.train(RewardObjective(), pairs, validation: pairs, events: {
            if case let .step(_, _, loss, _, _, _, _, _) = $0 { losses.append(loss) }
            if case let .validation(_, _, metrics) = $0 { validated = metrics }
        })
        #expect(abs(losses.first! - log(2)) < 0.05, "a fresh head scores every answer about alike")
        #expect(losses.last! < 0.3 * losses.first!, "\(losses)")
        #expect(validated["accuracy"] == 1 && validated["margin"]! > 0)
    }

    /// Written as PEFT's SEQ_CLS adapter (the head in modules_to_save as `score`) and read back: the same scores.
    @Test func exportRoundTripScoresIdentically() throws {
        let lora = Self.model(moved: true)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-reward-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try PEFTDirectory.write(lora, to: dir, baseModel: "tiny")
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/adapter_config.json"))) as! [String: Any]
        #expect(config["task_type"] as? String == "SEQ_CLS" && config["modules_to_save"] as? [String] == ["score"])
        let back = try PEFTDirectory.read(dir, config: Self.base.config)
        #expect(back.hasScoreHead && back.tensors == lora.tensors)
        let sequences = DPOTests.pairs().flatMap { [$0.chosen, $0.rejected] }
        let scores = AdapterPass(base: Self.base.weights, lora: lora, precision: .fp32).sequenceNLLs(sequences)
        #expect(AdapterPass(base: Self.base.weights, lora: back, precision: .fp32).sequenceNLLs(sequences) == scores)
        #expect(Set(scores).count == scores.count, "each answer its own score")
    }
}
