import Foundation
import Testing
import TesseraTestSupport
import TesseraTokenizer

/// Random texts (every plane, scripts, marks, emoji, whitespace runs, `▁` and `<0xAB>` written out, special-token
/// texts, strings of vocabulary tokens) tokenized by llama.cpp through llama-cpp-python on each SentencePiece
/// vocabulary: Fixtures/spm-<vocab>.jsonl, by tools/reference/spm_fixtures.py. Ids with parse_special off and on,
/// llama_detokenize of the latter, and byte strings that are not UTF-8 through the encoder alone.
@Suite struct SentencePieceFixtureTests {
    struct Case: Decodable {
        let text: String?
        /// Hex bytes (not UTF-8) in place of `text`: encoded with special=False, the space prefix as llama.cpp adds it.
        let bytes: String?
        let ids: [Int32]
        let idsSpecial: [Int32]?
        let decoded: String?
    }

    static func cases(_ name: String) throws -> [Case] {
        let url = try #require(Bundle.module.url(forResource: "spm-\(name)", withExtension: "jsonl", subdirectory: "Fixtures"),
                               "no fixture for \(name): run tools/reference/spm_fixtures.py")
        return try TestModel.jsonLines(url, as: Case.self)
    }

    @Test(arguments: VocabSuite.sentencePieceNames)
    func randomTextsGiveLlamaCppIds(name: String) throws {
        let tokenizer = try VocabSuite.tokenizer(name)
        let cases = try Self.cases(name)
        #expect(cases.filter { $0.text != nil }.count >= 200, "\(name)")
        for c in cases {
            guard let text = c.text else { continue }
            #expect(tokenizer.encode(text, addSpecial: false, parseSpecial: false) == c.ids, "\(name): \(text.debugDescription)")
            if let ids = c.idsSpecial {
                #expect(tokenizer.encode(text, addSpecial: false, parseSpecial: true) == ids, "\(name) parseSpecial: \(text.debugDescription)")
            }
        }
    }

    @Test(arguments: VocabSuite.sentencePieceNames)
    func decodeGivesLlamaCppText(name: String) throws {
        let tokenizer = try VocabSuite.tokenizer(name)
        for c in try Self.cases(name) {
            guard let ids = c.idsSpecial, let decoded = c.decoded else { continue }
            #expect(tokenizer.decode(ids) == decoded, "\(name): \(ids)")
        }
    }

    @Test(arguments: VocabSuite.sentencePieceNames)
    func bytesThatAreNotUTF8GiveLlamaCppIds(name: String) throws {
        let tokenizer = try VocabSuite.tokenizer(name)
        guard case .sentencePiece(let encoder) = tokenizer.model else { Issue.record("\(name) is not SentencePiece"); return }
        let cases = try Self.cases(name).compactMap { c in c.bytes.map { ($0, c.ids) } }
        #expect(cases.count >= 10, "\(name)")
        for (hex, ids) in cases {
            var bytes: [UInt8] = tokenizer.addSpacePrefix ? [0x20] : []
            bytes += Self.bytes(hex: hex)
            var out: [Int32] = []
            encoder.encode(bytes[...], into: &out)
            #expect(out == ids, "\(name): \(hex)")
        }
    }

    static func bytes(hex: String) -> [UInt8] {
        let digits = Array(hex.utf8).map { $0 <= 57 ? $0 - 48 : ($0 | 0x20) - 87 }
        return stride(from: 0, to: digits.count - 1, by: 2).map { digits[$0] << 4 | digits[$0 + 1] }
    }
}
