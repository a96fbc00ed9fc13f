import Foundation
import Testing
import TesseraFormats
import TesseraKernels
import TesseraModel
import TesseraTestSupport
import TesseraTokenizer

/// Teacher-forced logprobs against transformers in fp32 on the same GGUF (DESIGN 5). The bar is llama.cpp's own
/// distance from that reference on the same file, recorded in the fixture, and the stated tolerance below; the
/// default activations of every level (int16 on AVX-512 VNNI, fp32 elsewhere) must meet both.
@Suite struct ParityTests {
    struct Case: Decodable {
        let text: String
        let tokens: [Int32]
        let reference: [Double]
        let llamacpp: [Double]
    }

    struct Fixture: Decodable {
        let cases: [Case]
    }

    static let fixture = try! JSONDecoder().decode(Fixture.self, from: Data(contentsOf: Bundle.module.url(
        forResource: "logprobs", withExtension: "json", subdirectory: "Fixtures")!))
    static let model = try! ModelRegistry.load(TestModel.gguf)
    static let tokenizer = try! Tokenizer(gguf: TestModel.gguf)

    /// Stated tolerance: mean absolute error per token, and the largest single error, in nats, with an fp32 KV cache
    /// (the exact path). Measured: int16 activations mean 3.0e-4, max 2.6e-3; fp32 activations mean 3.4e-6, max
    /// 3.6e-5 (llama.cpp on the same texts: mean 0.051, max 0.50).
    /// int8 activations are llama.cpp's precision (measured mean 0.053-0.056, max 0.41-0.43 on the default file;
    /// 0.056-0.069 and 0.35-0.92 on the K-quant mixes): they are held to llama.cpp's own distance instead.
    static let int8 = ActivationPrecision.selected == .int8
    static let meanTolerance = int8 ? 0.08 : 1e-3
    static let maxTolerance = int8 ? 1.0 : 1e-2
    /// The f16 cache (the serving default) rounds every key and value to 11 bits: mean <= 1e-3 nats (the bound the
    /// KV-cache decision set; measured 7.8e-4 at int16), largest error 0.02 (bound 0.05, a tenth of llama.cpp's).
    static let f16MaxTolerance = int8 ? 1.0 : 0.05

    @Test(arguments: [KVCacheType.fp32, .f16]) func logprobsMatchTheReference(cache: KVCacheType) throws {
        var allErrors: [Double] = [], llamaErrors: [Double] = []
        for c in Self.fixture.cases {
            #expect(Self.tokenizer.encode(c.text) == c.tokens, "tokens of \(c.text.prefix(40))")
            let got = try Scoring.logprobs(model: Self.model, tokens: c.tokens, cache: cache)
            try #require(got.count == c.reference.count)
            allErrors += zip(got, c.reference).map { abs($0 - $1) }
            llamaErrors += zip(c.llamacpp, c.reference).map { abs($0 - $1) }
        }
        let mean = allErrors.reduce(0, +) / Double(allErrors.count)
        let worst = allErrors.max()!
        let llamaMean = llamaErrors.reduce(0, +) / Double(llamaErrors.count)
        let llamaWorst = llamaErrors.max()!
        print("parity over \(allErrors.count) tokens, \(cache) cache: Tessera mean \(mean) max \(worst); llama.cpp mean \(llamaMean) max \(llamaWorst)")
        #expect(mean <= Self.meanTolerance && mean <= (Self.int8 ? 1.25 : 1) * llamaMean)
        #expect(worst <= (cache == .fp32 ? Self.maxTolerance : Self.f16MaxTolerance) && (Self.int8 || worst <= llamaWorst))
    }

    struct KQuantFixture: Decodable {
        struct File: Decodable {
            let model: String
            let cases: [Row]
        }
        struct Row: Decodable {
            let tokens: [Int32]
            let reference: [Double]
        }
        let files: [String: File]
    }

    static let kQuantFixture = try! JSONDecoder().decode(KQuantFixture.self, from: Data(contentsOf: Bundle.module.url(
        forResource: "logprobs-kquants", withExtension: "json", subdirectory: "Fixtures")!))

    /// llama.cpp's standard mixes of the default model (Q5_0/Q5_1/Q8_0 for the 576-wide rows, Q4_K/Q5_K/Q6_K for the
    /// rest), each against transformers in fp32 on the same file, with the default file's tolerance. The files are
    /// made by tools/bench/setup-llama (llama-quantize; `.ci/run` runs it); without them there is nothing to check.
    /// An fp32 cache: the kernels' precision on these types is what is held here.
    @Test(arguments: ["Q4_K_M", "Q5_K_M", "Q6_K"])
    func kQuantMixesMatchTheirReference(kind: String) throws {
        let file = try #require(Self.kQuantFixture.files[kind])
        let path = TestModel.repositoryRoot.appendingPathComponent("models/\(file.model)").path
        guard FileManager.default.fileExists(atPath: path) else {
            print("parity on \(kind) skipped: \(path) is made by tools/bench/setup-llama")
            return
        }
        let model = try ModelRegistry.load(try GGUFFile(path: path))
        var errors: [Double] = []
        for c in file.cases {
            let got = try Scoring.logprobs(model: model, tokens: c.tokens, cache: .fp32)
            try #require(got.count == c.reference.count)
            errors += zip(got, c.reference).map { abs($0 - $1) }
        }
        let mean = errors.reduce(0, +) / Double(errors.count), worst = errors.max()!
        print("parity on \(kind) over \(errors.count) tokens: Tessera mean \(mean) max \(worst)")
        #expect(mean <= Self.meanTolerance && worst <= Self.maxTolerance, "\(kind): mean \(mean) max \(worst)")
    }

    @Test func chunkedPrefillEqualsOnePass() throws {
        let tokens = Self.fixture.cases.max { $0.tokens.count < $1.tokens.count }!.tokens
        let whole = try Scoring.logprobs(model: Self.model, tokens: tokens)
        let chunked = try Scoring.logprobs(model: Self.model, tokens: tokens, chunk: 7)
        for (a, b) in zip(whole, chunked) { #expect(abs(a - b) < 1e-4) }
    }

    @Test func decodingTokenByTokenEqualsPrefill() throws {
        let tokens = Self.fixture.cases[0].tokens
        let vocab = Self.model.config.vocab
        let prefill = try Self.model.forward(tokens: tokens, cache: Self.model.makeCache(capacity: 64), outputs: [tokens.count - 1])
        let cache = Self.model.makeCache(capacity: 64)
        var last: [Float] = []
        for t in tokens { last = try Self.model.forward(tokens: [t], cache: cache, outputs: [0]) }
        #expect(last.count == vocab)
        var worst: Float = 0
        for i in 0..<vocab { worst = max(worst, abs(last[i] - prefill[i])) }
        #expect(worst < 1e-3)
    }
}
