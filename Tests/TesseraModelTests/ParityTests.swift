import Foundation
import Testing
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

    /// Stated tolerance: mean absolute error per token, and the largest single error, in nats. Measured: int16
    /// activations mean 3.0e-4, max 2.6e-3; fp32 activations mean 3.4e-6, max 3.6e-5 (llama.cpp on the same texts:
    /// mean 0.051, max 0.50).
    static let meanTolerance = 1e-3
    static let maxTolerance = 1e-2

    @Test func logprobsMatchTheReference() throws {
        var allErrors: [Double] = [], llamaErrors: [Double] = []
        for c in Self.fixture.cases {
            #expect(Self.tokenizer.encode(c.text) == c.tokens, "tokens of \(c.text.prefix(40))")
            let got = try Scoring.logprobs(model: Self.model, tokens: c.tokens)
            try #require(got.count == c.reference.count)
            allErrors += zip(got, c.reference).map { abs($0 - $1) }
            llamaErrors += zip(c.llamacpp, c.reference).map { abs($0 - $1) }
        }
        let mean = allErrors.reduce(0, +) / Double(allErrors.count)
        let worst = allErrors.max()!
        let llamaMean = llamaErrors.reduce(0, +) / Double(llamaErrors.count)
        let llamaWorst = llamaErrors.max()!
        print("parity over \(allErrors.count) tokens: Tessera mean \(mean) max \(worst); llama.cpp mean \(llamaMean) max \(llamaWorst)")
        #expect(mean <= Self.meanTolerance && mean <= llamaMean)
        #expect(worst <= Self.maxTolerance && worst <= llamaWorst)
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
