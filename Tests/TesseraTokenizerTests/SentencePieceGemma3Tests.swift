import Testing
import TesseraTokenizer

/// Gemma 3 270M's real tokenizer (262144 SentencePiece tokens, no space prefix, runs of newlines and spaces as
/// user-defined tokens); the random texts are in SentencePieceFixtureTests. Ids from llama.cpp.
@Suite struct SentencePieceGemma3Tests {
    static func tokenizer() throws -> Tokenizer { try VocabSuite.tokenizer("gemma-3") }

    @Test func metadata() throws {
        let t = try Self.tokenizer()
        #expect(t.vocabularySize == 262_144)
        #expect(t.addSpacePrefix == false)
        #expect(t.bosID == 2)
        #expect(t.eosID == 1)
        #expect(t.id(of: "<start_of_turn>") == 105)
    }

    @Test(arguments: [
        ("Hello world", false, [9259, 1902] as [Int32]),
        (" Hello  world\n\n", false, [26352, 138, 12392, 108]),
        ("<start_of_turn>user\nWhy is the sky blue?<end_of_turn>\n<start_of_turn>model\n", true,
         [105, 2364, 107, 11355, 563, 506, 7217, 3730, 236881, 106, 107, 105, 4368, 107]),
        ("<start_of_turn>user", false, [236820, 3041, 236779, 1340, 236779, 887, 236813, 2364]),
        ("日本語のテキスト 🦀", false, [94951, 236945, 95830, 236743, 248714]),
        ("\t\tif x:\n\t\t\treturn", false, [255969, 584, 1123, 236787, 107, 255970, 2060]),
    ])
    func knownTexts(text: String, parseSpecial: Bool, ids: [Int32]) throws {
        let t = try Self.tokenizer()
        #expect(t.encode(text, addSpecial: false, parseSpecial: parseSpecial) == ids)
        #expect(t.decode(ids) == text)
    }
}
