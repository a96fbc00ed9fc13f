import Foundation
import Testing
import TesseraTestSupport
import TesseraTokenizer

/// Every pre-tokenizer type against pieces made by llama.cpp's own `unicode_regex_split` for random texts
/// (Fixtures/pretokenizer-splits.jsonl, by tools/reference/pretokenizer_fixtures.py). Most types have no vocabulary
/// in llama.cpp's suite, so this is where their splitting is checked.
@Suite struct PreTokenizerSplitFixtureTests {
    struct Row: Decodable {
        struct Split: Decodable {
            let pre: [String]
            let lengths: [Int]
        }
        let text: String
        let splits: [Split]
    }

    @Test func piecesMatchLlamaCpp() throws {
        let url = try #require(Bundle.module.url(forResource: "pretokenizer-splits", withExtension: "jsonl", subdirectory: "Fixtures"))
        let rows = try TestModel.jsonLines(url, as: Row.self)
        #expect(rows.count >= 100)
        var tokenizers: [String: PreTokenizer] = [:]
        var checked = Set<String>()
        for row in rows {
            for split in row.splits {
                for name in split.pre {
                    if tokenizers[name] == nil { tokenizers[name] = try PreTokenizer(ggufName: name) }
                    let pieces = try #require(tokenizers[name]).pieces(of: row.text)
                    #expect(pieces.map(\.unicodeScalars.count) == split.lengths, "\(name): \(row.text.debugDescription)")
                    checked.insert(name)
                }
            }
        }
        #expect(checked.count >= 50)
    }
}
