import Foundation
import Testing
import TesseraAdapters
import TesseraFormats
import TesseraKernels
import TesseraModel
import TesseraTestSupport

/// Adapters of every kind, made and saved by peft (tools/reference/adapter_fixtures.py), against transformers + peft
/// in fp32 on the same GGUF: as close as the base model itself (the foundation's tolerance).
@Suite struct AdapterParityTests {
    struct Text: Decodable {
        let text: String
        let tokens: [Int32]
        let base: [Double]
    }

    struct Fixture: Decodable {
        let texts: [Text]
        let adapters: [String: [[Double]]]
    }

    /// A base model with its adapters and their reference logprobs.
    struct Base: Sendable {
        let model: DecoderModel
        let fixtures: URL
        let fixture: Fixture

        init(_ model: DecoderModel, fixtures: URL) {
            self.model = model
            self.fixtures = fixtures
            fixture = try! JSONDecoder().decode(Fixture.self, from: Data(contentsOf: fixtures.appendingPathComponent("logprobs.json")))
        }

        func load(_ name: String, precision: LowRankDelta.Precision = .selected) throws -> LoadedAdapter {
            try PEFTAdapter.load(directory: fixtures.appendingPathComponent(name).path, model: model, precision: precision)
        }
    }

    static let fixtures = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
    /// SmolLM2 (Llama), and Gemma 3 270M: q/k norms after the adapted projections, GELU, one KV head of 256 for
    /// prefix tuning, virtual tokens past the embedding scale.
    static let bases: [String: Base] = [
        "smollm2": Base(try! ModelRegistry.load(TestModel.gguf), fixtures: fixtures),
        "gemma3": Base(try! ModelRegistry.load(try! GGUFFile(path: TestModel.repositoryRoot.appendingPathComponent(
            "models/gemma-3-270m-it-Q4_K_M.gguf").path)), fixtures: fixtures.appendingPathComponent("gemma3")),
    ]
    static var model: DecoderModel { bases["smollm2"]!.model }
    static var fixture: Fixture { bases["smollm2"]!.fixture }
    static let kinds: [(String, AdapterKind)] = [
        ("lora", .lora), ("lora_patterns", .lora), ("dora", .dora), ("prompt_tuning", .promptTuning),
        ("p_tuning", .pTuning), ("prefix_tuning", .prefixTuning),
    ]
    static let cases: [(String, String, AdapterKind)] = kinds.map { ("smollm2", $0.0, $0.1) }
        + kinds.filter { $0.0 != "lora_patterns" }.map { ("gemma3", $0.0, $0.1) }

    /// Mean and max |Δlogprob| allowed. fp32 activations reproduce peft to ~1e-5 (measured max 1.6e-4 on the prefix
    /// adapter); int16 activations add their quantization, which grows with how far an adapter pushes the
    /// activations (these random adapters move logprobs by 0.2 to 3.8 nats): measured mean 2.5e-4 to 1.2e-3, max up to
    /// 1.1e-2. llama.cpp's own distance from the reference on the base model is 0.051 mean, 0.50 max.
    static var tolerance: (Double, Double) {
        switch ActivationPrecision.selected {
        case .fp32: (1e-4, 1e-3)
        case .int16: (2e-3, 2e-2)
        // llama.cpp's precision; virtual tokens and prefix entries, far larger than token embeddings, lose most to
        // it (measured: LoRA 0.057, prompt tuning 0.086, P-tuning 0.12, prefix tuning 0.23 mean; max 3.5).
        case .int8: (0.3, 4.0)
        }
    }

    static func load(_ name: String, precision: LowRankDelta.Precision = .selected) throws -> LoadedAdapter {
        try bases["smollm2"]!.load(name, precision: precision)
    }

    @Test(arguments: cases)
    func logprobsMatchPEFT(base baseName: String, name: String, kind: AdapterKind) throws {
        let base = Self.bases[baseName]!
        let adapter = try base.load(name)
        #expect(adapter.kind == kind)
        #expect(adapter.warnings.isEmpty, "\(adapter.warnings)")
        var errors: [Double] = [], moved: [Double] = []
        for (text, reference) in zip(base.fixture.texts, base.fixture.adapters[name]!) {
            let got = try Scoring.logprobs(model: base.model, tokens: text.tokens, adapters: [AppliedAdapter(adapter.weights)], cache: .fp32)
            try #require(got.count == reference.count)
            errors += zip(got, reference).map { abs($0 - $1) }
            moved += zip(reference, text.base).map { abs($0 - $1) }
        }
        let mean = errors.reduce(0, +) / Double(errors.count)
        let movedMean = moved.reduce(0, +) / Double(moved.count)
        print("\(baseName) \(name): mean |Tessera - peft| \(mean), max \(errors.max()!); the adapter moves logprobs by \(movedMean)")
        #expect(movedMean > 0.05, "the adapter must change the model measurably, or the test proves nothing")
        let (meanBound, maxBound) = Self.tolerance
        #expect(mean <= meanBound && errors.max()! <= maxBound)
    }

    /// A sequence's logits do not depend on what else is in the batch: rows of every adapter kind, base rows, and
    /// several sequences sharing one LoRA (gathered into one shrink and expand) with different weights.
    @Test func aSequenceScoresTheSameAloneAndInAMixedBatch() throws {
        let adapters = try Self.kinds.map { try Self.load($0.0).weights }
        let texts = Self.fixture.texts.map(\.tokens)
        let vocab = Self.model.config.vocab
        typealias Item = (tokens: [Int32], adapter: AdapterWeights?, scale: Float)
        func run(_ items: [Item]) throws -> [[Float]] {
            let inputs = items.map { item in
                SequenceInput(tokens: item.tokens, cache: Self.model.makeCache(capacity: 256, type: .fp32), outputs: Array(item.tokens.indices),
                              adapters: item.adapter.map { [AppliedAdapter($0, scale: item.scale)] } ?? [])
            }
            let logits = try Self.model.forward(inputs)
            var out: [[Float]] = [], at = 0
            for item in items {
                out.append(Array(logits[(at * vocab)..<((at + item.tokens.count) * vocab)]))
                at += item.tokens.count
            }
            return out
        }
        let items: [Item] = [(texts[0], nil, 1)] + adapters.enumerated().map { (texts[$0 % texts.count], $1, 1) }
            + [(texts[2], nil, 1), (texts[1], adapters[0], 0.5), (texts[2], adapters[0], 1)]
        let batched = try run(items)
        for (i, item) in items.enumerated() {
            let alone = try run([item])[0]
            #expect(alone == batched[i], "sequence \(i) differs between alone and batched")
        }
    }

    /// LoRA composition: weights 0.7 and 0.3 are the weighted sum of the two deltas; weight 0 is the base.
    @Test func loraAdaptersCompose() throws {
        let a = try Self.load("lora").weights, b = try Self.load("lora_patterns").weights
        let tokens = Self.fixture.texts[0].tokens
        let base = try Scoring.logprobs(model: Self.model, tokens: tokens, cache: .fp32)
        let zero = try Scoring.logprobs(model: Self.model, tokens: tokens, adapters: [AppliedAdapter(a, scale: 0)], cache: .fp32)
        #expect(zip(zero, base).allSatisfy { abs($0 - $1) < 1e-6 })
        let mixed = try Scoring.logprobs(model: Self.model, tokens: tokens, adapters: [AppliedAdapter(a, scale: 0.7), AppliedAdapter(b, scale: 0.3)], cache: .fp32)
        let onlyA = try Scoring.logprobs(model: Self.model, tokens: tokens, adapters: [AppliedAdapter(a)], cache: .fp32)
        #expect(mixed != onlyA && mixed != base)
        // Deltas add linearly: two halves of an adapter are the whole of it.
        let halves = try Scoring.logprobs(model: Self.model, tokens: tokens, adapters: [AppliedAdapter(a, scale: 0.5), AppliedAdapter(a, scale: 0.5)], cache: .fp32)
        let worst = zip(halves, onlyA).map { abs($0 - $1) }.max()!
        #expect(worst < [.fp32: 1e-5, .int16: 1e-3, .int8: 0.5][ActivationPrecision.selected]!, "halves vs whole: \(worst)")
        let dora = try Self.load("dora").weights
        #expect(throws: ModelError("sequence 0: only LoRA adapters compose; DoRA, prompt, P- and prefix tuning apply alone")) {
            try Scoring.logprobs(model: Self.model, tokens: tokens, adapters: [AppliedAdapter(a), AppliedAdapter(dora)], cache: .fp32)
        }
    }
}
