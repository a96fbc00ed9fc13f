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
            lora.startMagnitudes(base: TrainStepParityTests.model.weights)
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

    /// P-tuning (through its MLP) and prefix tuning (rows, or through its projection), with random weights.
    static func trainedVirtual(_ kind: AdapterParameters.Kind, encoderHidden: Int) -> AdapterParameters {
        var a = AdapterParameters(config: TrainStepParityTests.model.config, kind: kind, virtualTokens: 3,
                                  encoderHidden: encoderHidden, seed: 5)
        if kind == .prefix, encoderHidden == 0 {
            var rng = SplitMix(6)
            a.tensors[0] = rng.floats(a.tensors[0].count).map { $0 * 0.5 }
        }
        return a
    }

    static func trained(_ kind: String) -> AdapterParameters {
        switch kind {
        case "prompt": trainedPrompt()
        case "p-tuning": trainedVirtual(.pTuning, encoderHidden: 16)
        case "prefix": trainedVirtual(.prefix, encoderHidden: 0)
        case "prefix-projection": trainedVirtual(.prefix, encoderHidden: 8)
        default: trainedLoRA(dora: kind == "dora")
        }
    }

    @Test(arguments: ["lora", "dora", "prompt", "p-tuning", "prefix", "prefix-projection"])
    func writtenAdapterReadsBackAndServesTheSameLogprobs(kind: String) throws {
        let lora = Self.trained(kind)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-export-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try PEFTDirectory.write(lora, to: dir.path, baseModel: "SmolLM2-135M-Instruct")
        try PEFTDirectory.write(lora, to: dir.path, baseModel: "SmolLM2-135M-Instruct")  // over an existing one
        let back = try PEFTDirectory.read(dir.path, config: lora.config)
        // PEFT's files keep an encoder's output only: that is what reads back.
        #expect(back.kind == lora.kind && back.tensors == (lora.encoderHidden > 0 ? [lora.virtualRows] : lora.tensors)
            && back.options == lora.options)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.deletingLastPathComponent().path)
            .filter { $0.hasPrefix(".\(dir.lastPathComponent)") }
        #expect(leftovers.isEmpty, "no temporary directories left: \(leftovers)")

        let tokens: [Int32] = Array(TrainStepParityTests.fixture.batch[0].tokens)
        let example = TrainingExample(tokens: tokens, weights: [Float](repeating: 1, count: tokens.count))
        let trainerNLL = AdapterPass(base: TrainStepParityTests.model.weights, lora: lora).loss([example])
        let model = Self.serving
        let loaded = try PEFTAdapter.load(directory: dir.path, model: model)
        let kinds: [String: AdapterKind] = ["lora": .lora, "dora": .dora, "prompt": .promptTuning, "p-tuning": .pTuning,
                                            "prefix": .prefixTuning, "prefix-projection": .prefixTuning]
        #expect(loaded.kind == kinds[kind]! && loaded.warnings.isEmpty)
        let served = try Scoring.logprobs(model: model, tokens: tokens, adapters: [AppliedAdapter(loaded.weights)], cache: .fp32)
        let servedNLL = -served.reduce(0, +)
        let baseNLL = -(try Scoring.logprobs(model: model, tokens: tokens, cache: .fp32)).reduce(0, +)
        // The serving path's own precision (int16 activations, fp16 adapter weights at the SIMD levels; an fp32 cache,
        // as the trainer has) bounds the agreement; the adapter's effect must be far larger.
        let perToken = abs(servedNLL - trainerNLL) / Double(tokens.count - 1)
        print("export: trainer NLL \(trainerNLL), served \(servedNLL), base \(baseNLL)")
        #expect(perToken < 2e-3)
        #expect(abs(servedNLL - baseNLL) > 20 * abs(servedNLL - trainerNLL))
    }

    /// A checkpoint keeps what PEFT's files do not: the encoder itself, so training goes on through it.
    @Test(arguments: ["p-tuning", "prefix-projection"]) func checkpointKeepsTheEncoder(kind: String) throws {
        let adapter = Self.trained(kind)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-ckpt-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try TrainingCheckpoint(lora: adapter, optimizer: Optimizer(kind: .sgd, weightDecay: 0), step: 3)
            .write(to: dir.path, baseModel: "SmolLM2-135M-Instruct")
        let back = try TrainingCheckpoint.read(dir.path, config: adapter.config)
        #expect(back.lora.kind == adapter.kind && back.lora.encoderHidden == adapter.encoderHidden)
        #expect(back.lora.tensors == adapter.tensors && back.step == 3)
    }
}
