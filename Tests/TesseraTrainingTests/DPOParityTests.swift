import Foundation
import Testing
import TesseraFormats
import TesseraModel
import TesseraTestSupport
import TesseraTraining

/// One DPO SGD step from a PEFT adapter on fixed pairs against transformers + peft in fp32 with TRL's sigmoid loss,
/// the reference being the base with the adapter off (fixtures from tools/reference/dpo_step_fixtures.py).
@Suite struct DPOParityTests {
    static var model: DecoderModel { TrainStepParityTests.model }
    static let fixtures = TrainStepParityTests.fixtures

    struct Fixture: Decodable {
        struct Pair: Decodable {
            let chosen: TrainStepParityTests.Fixture.Row
            let rejected: TrainStepParityTests.Fixture.Row
        }
        struct Kind: Decodable {
            let loss: Double
            let reference: [[Double]]
        }
        let beta: Double
        let pairs: [Pair]
        let kinds: [String: Kind]
    }

    static let fixture = try! JSONDecoder().decode(
        Fixture.self, from: Data(contentsOf: fixtures.appendingPathComponent("dpo_step.json")))

    /// At fp32 within 1e-3 (measured 1e-5); at the default precision (int16 forward products at AVX-512) within
    /// 3e-2, as for SFT.
    @Test(arguments: ["dpo_lora", "dpo_prompt_tuning"], [TrainingPrecision.fp32, .auto])
    func oneSGDStepMatchesTRLsFormulaOnPEFT(kind: String, precision: TrainingPrecision) throws {
        let start = try PEFTDirectory.read(Self.fixtures.appendingPathComponent(kind).path, config: Self.model.config)
        let settings = TrainStepParityTests.oneSGDStep(batchSize: Self.fixture.pairs.count, precision: precision)
        var trainer = Trainer(base: Self.model.weights, lora: start, settings: settings)
        let pairs = trainer.referenced(Self.fixture.pairs.map {
            PreferencePair(chosen: TrainingExample(tokens: $0.chosen.tokens, weights: $0.chosen.weights),
                           rejected: TrainingExample(tokens: $0.rejected.tokens, weights: $0.rejected.weights))
        })
        let expected = try #require(Self.fixture.kinds[kind])
        let tolerance = precision == .fp32 ? 1e-4 : 3e-3
        for (p, r) in zip(pairs, expected.reference) {  // the base's log-likelihoods of both answers
            #expect(abs(p.referenceChosen - r[0]) <= tolerance * abs(r[0]) && abs(p.referenceRejected - r[1]) <= tolerance * abs(r[1]))
        }
        var loss = 0.0
        try trainer.train(DPOObjective(beta: Self.fixture.beta), pairs, events: {
            if case .step(_, _, let l, _, _, _, _, _) = $0 { loss = l }
        })
        let update = zip(trainer.lora.tensors, start.tensors).map { zip($0, $1).map { $0 - $1 } }
        let error = TrainStepParityTests.relativeError(update, try TrainStepParityTests.reference(kind, start))
        print("\(kind) at \(precision): relative error of the update \(error), loss \(loss) (reference \(expected.loss))")
        #expect(error <= (precision == .fp32 ? 1e-3 : 3e-2))
        #expect(abs(loss - expected.loss) <= (precision == .fp32 ? 1e-4 : 3e-3))
    }
}
