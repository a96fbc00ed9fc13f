import Foundation
import Testing
import TesseraAdapters
import TesseraModel
import TesseraTestSupport
import TesseraTraining

/// What the trainer writes is a PEFT directory that the trainer reads back exactly and the server's loader serves
/// with the logprobs the trainer computed.
@Suite struct ExportTests {
    static var serving: any LanguageModel { try! ModelRegistry.load(TestModel.gguf) }

    static func trainedLoRA(dora: Bool = false) -> AdapterParameters {
        var options = LoRAOptions()
        options.rank = 4
        options.alpha = 8
        options.targets = [.q, .v, .o, .down]
        options.dora = dora
        var lora = AdapterParameters(config: TrainStepParityTests.model.config, options: options, seed: 9)
        var rng = SplitMix(4)
        for (i, name) in lora.names.enumerated() where !name.name.hasSuffix("magnitude_vector") {
            lora.tensors[i] = rng.floats(lora.tensors[i].count).map { $0 * 0.05 }
        }
        if dora {  // magnitudes a little off the norms of W + scale·BA
            lora.startMagnitudes(base: TrainStepParityTests.model.baseWeights)
            for (i, name) in lora.names.enumerated() where name.name.hasSuffix("magnitude_vector") {
                lora.tensors[i] = lora.tensors[i].map { $0 * (1 + 0.2 * rng.float()) }
            }
        }
        return lora
    }

    static func trainedPrompt() -> AdapterParameters {
        var rng = SplitMix(8)
        return AdapterParameters(config: TrainStepParityTests.model.config, promptEmbeddings: rng.floats(5 * 576).map { $0 * 0.1 })
    }

    @Test(arguments: ["lora", "dora", "prompt"]) func writtenAdapterReadsBackAndServesTheSameLogprobs(kind: String) throws {
        let lora = kind == "prompt" ? Self.trainedPrompt() : Self.trainedLoRA(dora: kind == "dora")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-export-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try PEFTDirectory.write(lora, to: dir.path, baseModel: "SmolLM2-135M-Instruct")
        try PEFTDirectory.write(lora, to: dir.path, baseModel: "SmolLM2-135M-Instruct")  // over an existing one
        let back = try PEFTDirectory.read(dir.path, config: lora.config)
        #expect(back.kind == lora.kind && back.tensors == lora.tensors && back.options == lora.options)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.deletingLastPathComponent().path)
            .filter { $0.hasPrefix(".\(dir.lastPathComponent)") }
        #expect(leftovers.isEmpty, "no temporary directories left: \(leftovers)")

        let tokens: [Int32] = Array(TrainStepParityTests.fixture.batch[0].tokens)
        let example = TrainingExample(tokens: tokens, weights: [Float](repeating: 1, count: tokens.count))
        let trainerNLL = AdapterPass(base: TrainStepParityTests.model.baseWeights, lora: lora).loss([example])
        let model = Self.serving
        let loaded = try PEFTAdapter.load(directory: dir.path, model: model)
        #expect(loaded.kind == ["lora": .lora, "dora": .dora, "prompt": .promptTuning][kind]! && loaded.warnings.isEmpty)
        let served = try Scoring.logprobs(model: model, tokens: tokens, adapters: [AppliedAdapter(loaded.weights)])
        let servedNLL = -served.reduce(0, +)
        let baseNLL = -(try Scoring.logprobs(model: model, tokens: tokens)).reduce(0, +)
        // The serving path's own precision (int16 activations, fp16 adapter weights at the SIMD levels) bounds the
        // agreement; the adapter's effect must be far larger.
        let perToken = abs(servedNLL - trainerNLL) / Double(tokens.count - 1)
        print("export: trainer NLL \(trainerNLL), served \(servedNLL), base \(baseNLL)")
        #expect(perToken < 2e-3)
        #expect(abs(servedNLL - baseNLL) > 20 * abs(servedNLL - trainerNLL))
    }
}
