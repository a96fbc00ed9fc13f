import Foundation
import Testing
import TesseraTestSupport
import TesseraTokenizer

/// Random texts (every plane, marks, CJK, emoji, whitespace of every kind, contractions, code) tokenized by
/// llama.cpp through llama-cpp-python on each BPE vocabulary of the suite: Fixtures/bpe-<vocab>.jsonl, by
/// tools/reference/vocab_fixtures.py.
@Suite struct BytePairFixtureTests {
    struct Case: Decodable {
        let text: String
        let ids: [Int32]
    }

    @Test func randomTextsGiveLlamaCppIds() throws {
        var checked = 0
        for name in VocabSuite.bytePairNames {
            let tokenizer = try VocabSuite.tokenizer(name)
            guard let url = Bundle.module.url(forResource: "bpe-\(name)", withExtension: "jsonl", subdirectory: "Fixtures") else {
                Issue.record("no fixture for \(name): run tools/reference/vocab_fixtures.py")
                continue
            }
            let cases = try TestModel.jsonLines(url, as: Case.self)
            #expect(cases.count >= 200, "\(name)")
            for c in cases {
                #expect(tokenizer.encode(c.text, addSpecial: false, parseSpecial: false) == c.ids, "\(name): \(c.text.debugDescription)")
            }
            checked += 1
        }
        #expect(checked >= 14)  // the 12 with .inp/.out, plus gpt-neox and aquila (pre-tokenizer 'default')
    }
}
