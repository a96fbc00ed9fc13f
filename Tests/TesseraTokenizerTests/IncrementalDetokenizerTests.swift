import Testing
import TesseraTestSupport
import TesseraTokenizer

@Suite struct IncrementalDetokenizerTests {
    static let tokenizer = try! Tokenizer(gguf: TestModel.gguf)

    @Test func neverEmitsHalfACharacter() {
        // Emoji and CJK split over several byte-level tokens in this vocabulary.
        for text in ["🎉 party 🎉", "你好世界", "Xin chào Việt Nam", "mixed 😀 text 東京 end", "e\u{301}"] {
            let ids = Self.tokenizer.encode(text)
            var d = IncrementalDetokenizer(tokenizer: Self.tokenizer)
            var out = ""
            for id in ids {
                let piece = d.append(id)
                #expect(!piece.contains("\u{FFFD}"), "partial character emitted for \(text)")
                out += piece
            }
            out += d.flush()
            #expect(out == text)
        }
    }

    @Test func incompleteTailBecomesReplacementAtFlush() throws {
        // The first byte-level token of "🎉" alone is an unfinished character.
        let ids = Self.tokenizer.encode("🎉")
        try #require(ids.count > 1)
        var d = IncrementalDetokenizer(tokenizer: Self.tokenizer)
        #expect(d.append(ids[0]) == "")
        #expect(d.flush() == "\u{FFFD}")
    }
}
