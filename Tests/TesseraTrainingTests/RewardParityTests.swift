import Foundation
import Testing
import TesseraModel
import TesseraTestSupport
import TesseraTraining

/// A reward model peft made (LlamaForSequenceClassification with a SEQ_CLS LoRA, the score head saved through
/// modules_to_save; tools/reference/reward_fixtures.py) scores as transformers does, and written back by Tessera
/// reads to the same tensors.
@Suite struct RewardParityTests {
    struct Fixture: Decodable {
        let tokens: [[Int32]]
        let scores: [Double]
    }

    @Test(arguments: [TrainingPrecision.fp32, .auto]) func peftsRewardModelScoresAsTransformersDoes(_ precision: TrainingPrecision) throws {
        let fixtures = TrainStepParityTests.fixtures, model = TrainStepParityTests.model
        let fixture = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: fixtures.appendingPathComponent("reward_scores.json")))
        let reward = try PEFTDirectory.read(fixtures.appendingPathComponent("reward_lora").path, config: model.config)
        #expect(reward.hasScoreHead)
        let sequences = fixture.tokens.map { TrainingExample(tokens: $0, weights: [Float](repeating: 0, count: $0.count)) }
        let scores = AdapterPass(base: model.weights, lora: reward, precision: precision).sequenceNLLs(sequences)
        let tolerance = precision == .fp32 ? 1e-4 : 1e-2
        for (ours, theirs) in zip(scores, fixture.scores) {
            #expect(abs(ours - theirs) <= tolerance * max(1, abs(theirs)), "\(ours) vs transformers' \(theirs)")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-reward-parity-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try PEFTDirectory.write(reward, to: dir, baseModel: "SmolLM2-135M-Instruct")
        #expect(try PEFTDirectory.read(dir, config: model.config).tensors == reward.tensors)
    }
}
