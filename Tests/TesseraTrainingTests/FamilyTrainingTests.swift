import Foundation
import Testing
import TesseraFormats
import TesseraModel
import TesseraTestSupport
import TesseraTraining

/// The trainer runs the description the server runs: on every family's file its forward pass (fp32, through the
/// mapping) gives transformers' log-likelihoods, and a LoRA learns on it.
@Suite struct FamilyTrainingTests {
    struct Case: Decodable {
        let tokens: [Int32]
        let reference: [Double]
    }

    struct File: Decodable {
        let model: String
        let cases: [Case]
    }

    static let files: [String: File] = {
        struct Fixture: Decodable { let files: [String: File] }
        let url = TestModel.repositoryRoot.appendingPathComponent("Tests/TesseraModelTests/Fixtures/families.json")
        return try! JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url)).files
    }()

    static func decoder(_ file: File) throws -> DecoderModel {
        try ModelRegistry.load(try GGUFFile(path: TestModel.repositoryRoot.appendingPathComponent(file.model).path), repack: false)
    }

    /// A fresh LoRA (B = 0) changes nothing, so the pass's NLL of every token is the base's.
    @Test(arguments: files.keys.sorted().filter { !$0.contains("270m") }) func theTrainersForwardIsTheReference(name: String) throws {
        let file = try #require(Self.files[name])
        let decoder = try Self.decoder(file)
        let lora = AdapterParameters(config: decoder.config, options: LoRAOptions(), seed: 1)
        let pass = AdapterPass(base: decoder.weights, lora: lora)
        var worst = 0.0
        for c in file.cases {
            let example = TrainingExample(tokens: c.tokens, weights: c.tokens.indices.map { $0 == 0 ? 0 : 1 })
            let nll = pass.sequenceNLLs([example])[0], reference = -c.reference.reduce(0, +)
            worst = max(worst, abs(nll - reference) / Double(c.reference.count))
        }
        print("\(name): trainer's NLL per token within \(worst) of transformers")
        #expect(worst < 1e-3)
    }

    /// A few steps of LoRA on one repeated sequence halve its loss on every family (every op's backward in place).
    @Test(arguments: files.keys.sorted().filter { !$0.contains("270m") }) func aLoRALearns(name: String) throws {
        let file = try #require(Self.files[name])
        let decoder = try Self.decoder(file)
        var options = LoRAOptions()
        options.rank = 4
        options.alpha = 8
        let tokens = Array(file.cases[0].tokens.prefix(24))
        let example = TrainingExample(tokens: tokens, weights: tokens.indices.map { $0 == 0 ? 0 : 1 })
        var settings = Trainer.Settings()
        settings.learningRate = 1e-2
        settings.epochs = 30
        settings.batchSize = 1
        settings.schedule = .constant
        settings.warmupRatio = 0
        var trainer = Trainer(base: decoder.weights, lora: AdapterParameters(config: decoder.config, options: options, seed: 2),
                              settings: settings)
        let before = AdapterPass(base: decoder.weights, lora: trainer.lora).loss([example])
        try trainer.train([example], events: { _ in })
        let after = AdapterPass(base: decoder.weights, lora: trainer.lora).loss([example])
        print("\(name): loss \(before) -> \(after)")
        #expect(after < before / 2)
    }
}
