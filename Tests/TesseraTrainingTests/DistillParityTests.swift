import Foundation
import Testing
import TesseraFormats
import TesseraModel
import TesseraTestSupport
import TesseraTraining

/// One context-distillation SGD step from a PEFT adapter against transformers + peft in fp32 with the same sparse
/// teacher and GKD divergences, the teacher being the base with the adapter off after a system prompt the student
/// does not see (fixtures from tools/reference/distill_step_fixtures.py).
@Suite struct DistillParityTests {
    static var model: DecoderModel { TrainStepParityTests.model }
    static let fixtures = TrainStepParityTests.fixtures

    struct Fixture: Decodable {
        struct Row: Decodable {
            let prompt: [Int32]
            let teacher_prompt: [Int32]
            let answer: [Int32]
        }
        struct Kind: Decodable {
            let divergence: String
            let temperature: Double
            let ratio: Double
            let jsd_beta: Double
            let loss: Double
        }
        let top_k: Int
        let rows: [Row]
        let kinds: [String: Kind]
    }

    static let fixture = try! JSONDecoder().decode(
        Fixture.self, from: Data(contentsOf: fixtures.appendingPathComponent("distill_step.json")))

    @Test(arguments: ["distill_lora", "distill_prompt_tuning"], [TrainingPrecision.fp32, .auto])
    func oneSGDStepMatchesTheReference(kind: String, precision: TrainingPrecision) throws {
        let start = try PEFTDirectory.read(Self.fixtures.appendingPathComponent(kind).path, config: Self.model.config)
        let expected = try #require(Self.fixture.kinds[kind])
        let settings = TrainStepParityTests.oneSGDStep(batchSize: Self.fixture.rows.count, precision: precision)
        var trainer = Trainer(base: Self.model.weights, lora: start, settings: settings)
        let rows = Self.fixture.rows.map { DistillationRow(prompt: $0.prompt, teacherPrompt: $0.teacher_prompt, answer: $0.answer) }
        let items = trainer.teacher(nil, topK: Self.fixture.top_k, temperature: expected.temperature)
            .teach(rows, batchSize: rows.count, threads: trainer.threads)
        let loss = DistillationLoss(divergence: try #require(DistillationLoss.Divergence(rawValue: expected.divergence)),
                                    temperature: expected.temperature, jsdBeta: expected.jsd_beta, ratio: expected.ratio)
        var reported = 0.0
        try trainer.train(DistillObjective(loss: loss), items, events: {
            if case .step(_, _, let l, _, _, _, _, _) = $0 { reported = l }
        })
        let update = zip(trainer.lora.tensors, start.tensors).map { zip($0, $1).map { $0 - $1 } }
        let error = TrainStepParityTests.relativeError(update, try TrainStepParityTests.reference(kind, start))
        print("\(kind) at \(precision): relative error of the update \(error), loss \(reported) (reference \(expected.loss))")
        #expect(error <= (precision == .fp32 ? 1e-3 : 3e-2))
        #expect(abs(reported - expected.loss) <= (precision == .fp32 ? 1e-4 : 3e-3) * max(1, expected.loss))
    }
}
