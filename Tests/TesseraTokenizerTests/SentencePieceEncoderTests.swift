import Testing
import TesseraTestSupport
import TesseraTokenizer

/// llama.cpp's SPM session read literally and slowly: merge the adjacent pair whose joined text is the best-scored
/// token (leftmost on ties) until none is; a leftover symbol that is not a token becomes its bytes' `<0xAB>` tokens.
/// The encoder (one queue per segment, byte-keyed table) must agree with it on any bytes.
struct NaiveSentencePiece {
    var ids: [[UInt8]: Int32] = [:]
    let scores: [Float]
    let unknown: Int32?

    init(vocabulary: Vocabulary, unknown: Int32?) {
        for (i, t) in vocabulary.tokens.enumerated() { ids[Array(t.utf8)] = Int32(i) }
        scores = vocabulary.scores
        self.unknown = unknown
    }

    func encode(_ text: [UInt8]) -> [Int32] {
        var escaped: [UInt8] = []
        for b in text { if b == 0x20 { escaped += [0xE2, 0x96, 0x81] } else { escaped.append(b) } }
        var symbols: [[UInt8]] = []
        var i = 0
        while i < escaped.count {
            let lead = escaped[i]
            let len = lead >> 4 == 0xF ? 4 : lead >> 4 == 0xE ? 3 : lead >> 4 >= 0xC ? 2 : 1
            let end = min(i + len, escaped.count)
            symbols.append(Array(escaped[i..<end]))
            i = end
        }
        while true {
            var best: (at: Int, score: Float)? = nil
            for k in symbols.indices.dropLast() {
                guard let id = ids[symbols[k] + symbols[k + 1]] else { continue }
                if best == nil || scores[Int(id)] > best!.score { best = (k, scores[Int(id)]) }
            }
            guard let b = best else { break }
            symbols[b.at] += symbols[b.at + 1]
            symbols.remove(at: b.at + 1)
        }
        var out: [Int32] = []
        for s in symbols {
            if let id = ids[s] { out.append(id); continue }
            for byte in s {
                if let id = ids[Array(Vocabulary.byteTokenText(byte).utf8)] ?? ids[[byte]] ?? unknown { out.append(id) }
            }
        }
        return out
    }
}

@Suite struct SentencePieceEncoderTests {
    static func encoder(_ tokenizer: Tokenizer) throws -> SentencePieceEncoder {
        guard case .sentencePiece(let e) = tokenizer.model else { throw TokenizerError("not SentencePiece") }
        return e
    }

    /// Random bytes built to reach every path: vocabulary tokens run together (long merge chains), `▁` and spaces,
    /// newlines, multi-byte characters, lead bytes without their continuation, stray continuation bytes.
    static func randomBytes(_ rng: inout SplitMix, tokens: [String]) -> [UInt8] {
        var out: [UInt8] = []
        let pieces = Int(rng.next() % 12) + 1
        for _ in 0..<pieces {
            switch rng.next() % 8 {
            case 0, 1, 2: out += Tokenizer.unescapeSpaces(tokens[Int(rng.next() % UInt64(tokens.count))])
            case 3: out += Array(repeating: 0x20, count: Int(rng.next() % 5) + 1)
            case 4: out += [[0x0A], [0x0A, 0x0A], [0x09], [0x0D, 0x0A], [0xE2, 0x96, 0x81]][Int(rng.next() % 5)]
            case 5: out += Array(String(Character(Unicode.Scalar(UInt32(0x4E00 + rng.next() % 0x5000))!)).utf8)
            case 6: out.append(UInt8(truncatingIfNeeded: rng.next()))
            default: out += [[0xF0, 0x9F], [0xE2], [0x80], [0xC3], [0xE2, 0x96], [0xF0, 0x61, 0x62, 0x63]][Int(rng.next() % 6)]
            }
        }
        return out
    }

    @Test(arguments: ["llama-spm", "gemma-3"])
    func agreesWithTheLiteralAlgorithmOnRandomBytes(name: String) throws {
        let tokenizer = try VocabSuite.tokenizer(name)
        let encoder = try Self.encoder(tokenizer)
        let naive = NaiveSentencePiece(vocabulary: tokenizer.vocabulary, unknown: tokenizer.special.unknown)
        let normal = tokenizer.vocabulary.tokens.indices.filter { tokenizer.vocabulary.attributes[$0].contains(.normal) }
            .map { tokenizer.vocabulary.tokens[$0] }
        var rng = SplitMix(42)
        var mismatches: [String] = []
        for _ in 0..<1500 {
            let bytes = Self.randomBytes(&rng, tokens: normal)
            var got: [Int32] = []
            encoder.encode(bytes[...], into: &got)
            let expected = naive.encode(bytes)
            if got != expected { mismatches.append("\(bytes): got \(got), expected \(expected)") }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) differ:\n\(mismatches.prefix(5).joined(separator: "\n"))")
    }

    /// Swift's String equality is canonical equivalence; llama.cpp's map compares bytes. Llama 2 has both U+1F77 and
    /// U+03AF (canonically equal) as tokens, with different ids.
    @Test func canonicallyEqualTokensKeepTheirOwnIds() throws {
        let encoder = try Self.encoder(try VocabSuite.tokenizer("llama-spm"))
        var a: [Int32] = [], b: [Int32] = []
        encoder.encode(Array("\u{1F77}".utf8)[...], into: &a)
        encoder.encode(Array("\u{03AF}".utf8)[...], into: &b)
        #expect(a == [30873])
        #expect(b == [30207])
    }

    @Test func longRunsAreOneFragmentAndStayLinear() throws {
        let tokenizer = try VocabSuite.tokenizer("llama-spm")
        // Each newline is a byte token (llama.cpp itself is quadratic here: it reserves the output per symbol).
        #expect(tokenizer.encode(String(repeating: "\n", count: 200_000), parseSpecial: false) == [29871] + Array(repeating: 13, count: 200_000))
        let spaces = tokenizer.encode(String(repeating: " ", count: 200_001), parseSpecial: false)
        #expect(spaces.count == 12_501 && Set(spaces).count <= 2)
    }

    @Test func emptyTextGivesNothing() throws {
        let encoder = try Self.encoder(try VocabSuite.tokenizer("llama-spm"))
        var out: [Int32] = []
        encoder.encode([][...], into: &out)
        #expect(out.isEmpty)
    }

    /// Without `<0xAB>` tokens (nor a token spelled by the byte alone) a byte falls back to the unknown token (where
    /// llama.cpp throws), else to nothing.
    @Test func byteFallbackWithoutByteTokens() throws {
        let vocabulary = try Vocabulary(tokens: ["<unk>", "▁", "a", "b", "ab", "▁ab"], scores: [0, -1, -2, -2, -1, -0.5])
        let withUnknown = try SentencePieceEncoder(vocabulary: vocabulary, unknownID: 0)
        var out: [Int32] = []
        withUnknown.encode(Array(" abc ab".utf8)[...], into: &out)
        #expect(out == [5, 0, 5])
        let withoutUnknown = try SentencePieceEncoder(vocabulary: vocabulary, unknownID: nil)
        out = []
        withoutUnknown.encode(Array(" abc".utf8)[...], into: &out)
        #expect(out == [5])
    }

    @Test func equalScoresMergeLeftmostFirst() throws {
        // "abc": "ab" and "bc" score the same; the leftmost pair merges first, so "c" is left alone.
        let vocabulary = try Vocabulary(tokens: ["<unk>", "a", "b", "c", "ab", "bc"], scores: [0, -1, -1, -1, -0.5, -0.5])
        let encoder = try SentencePieceEncoder(vocabulary: vocabulary, unknownID: 0)
        var out: [Int32] = []
        encoder.encode(Array("abc".utf8)[...], into: &out)
        #expect(out == [4, 3])
    }
}
