import Foundation
import Testing
import TesseraTestSupport
import TesseraTokenizer

/// Token ids must equal llama.cpp's (the model's original tokenizer) id for id; fixtures by tools/reference.
@Suite struct TokenizerParityTests {
    struct Case: Decodable {
        let text: String
        let ids: [Int32]
    }

    static let tokenizer = try! Tokenizer(gguf: TestModel.gguf)

    static let cases: [Case] = try! TestModel.jsonLines(
        Bundle.module.url(forResource: "tokenizer", withExtension: "jsonl", subdirectory: "Fixtures")!, as: Case.self)

    @Test func corpusIsLargeAndVaried() {
        #expect(Self.cases.count >= 200)
    }

    @Test func idsMatchReference() {
        var mismatches: [String] = []
        for c in Self.cases {
            let got = Self.tokenizer.encode(c.text)
            if got != c.ids { mismatches.append("\(String(reflecting: c.text)): got \(got), expected \(c.ids)") }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) of \(Self.cases.count) differ:\n\(mismatches.prefix(20).joined(separator: "\n"))")
    }

    @Test func decodeRoundTrips() {
        for c in Self.cases {
            #expect(Self.tokenizer.decode(c.ids) == c.text, "\(String(reflecting: c.text))")
        }
    }
}
