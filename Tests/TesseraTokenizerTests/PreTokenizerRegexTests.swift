import Testing
import TesseraTokenizer

/// The regex engine against splits made by llama.cpp's own `unicode_regex_split` (tools/reference/pretok_split.cpp):
/// std::regex's ECMAScript semantics on llama.cpp's collapsed or wide text.
@Suite struct PreTokenizerRegexTests {
    /// Pieces of `text` under a list of regexes, applied one after another as a pre-tokenizer applies them.
    static func split(_ regexes: [String], _ text: String) throws -> [String] {
        var cpts: [UInt32] = []
        Array(text.utf8).withUnsafeBufferPointer { LlamaUTF8.codepoints($0, into: &cpts) }
        var pieces = cpts.isEmpty ? [] : [cpts.count]
        for regex in regexes {
            var out: [Int] = []
            if let custom = CustomSplitter(regex: regex) {
                cpts.withUnsafeBufferPointer { c in
                    UnicodeFlags.table.withUnsafeBufferPointer { f in custom.split(c, f, pieces: pieces, into: &out) }
                }
            } else {
                let stage = try RegexStage(regex: regex)
                let stand = cpts.withUnsafeBufferPointer { c in
                    UnicodeFlags.table.withUnsafeBufferPointer { f in
                        stage.collapsed ? RegexStage.collapsedText(c, f) : RegexStage.wideText(c, f)
                    }
                }
                var matcher = RegexMatcher(stage.program)
                stand.withUnsafeBufferPointer { stage.split($0, pieces: pieces, matcher: &matcher, into: &out) }
            }
            pieces = out
        }
        var result: [String] = []
        var start = 0
        for n in pieces {
            var utf8: [UInt8] = []
            for c in cpts[start..<start + n] { LlamaUTF8.append(c, to: &utf8) }
            result.append(String(decoding: utf8, as: UTF8.self))
            start += n
        }
        return result
    }

    @Test(arguments: [
        (#"\s+(?!\S)|\s+"#, "a   b  ", ["a", "  ", " ", "b", "  "]),
        (#"(?=(\d{3})+(?!\d))"#, "1234567 12 123456", ["1", "234", "567 12 ", "123", "456"]),
        (#"\p{N}{1,3}"#, "x12345y٣٤٥٦", ["x", "123", "45", "y", "٣٤٥", "٦"]),
        (#"\s+$"#, "a  \n b   ", ["a  \n b", "   "]),
        ("a|ab", "abab", ["a", "b", "a", "b"]),
        ("ab|a", "abab", ["ab", "ab"]),
        ("a+?", "aaa", ["a", "a", "a"]),
        ("a{2,3}", "aaaaaaa", ["aaa", "aaa", "a"]),
        // \s is ASCII only; non-ASCII whitespace reads as 0x0B, U+200B is not whitespace.
        (#"[\s]+"#, "x\u{a0}\u{200b}y \u{3000}z", ["x", "\u{a0}", "\u{200b}y", " \u{3000}", "z"]),
        (#"\s?\p{L}+"#, " Olé\u{301} 日本 \u{a0}x", [" Olé", "\u{301}", " 日本", " ", "\u{a0}x"]),
        // \p{Lu} collapses to every letter, as in llama.cpp.
        (#"[^\r\n\p{L}\p{N}]?\p{Lu}+"#, "¡HOLA mundo ÀÉ", ["¡HOLA", " mundo", " ÀÉ"]),
        (#" ?[^(\s|.,!?…。，、।۔،)]+"#, "Hi, there (ok)… yes。", ["Hi", ",", " there", " (", "ok", ")…", " yes", "。"]),
    ])
    func regex(_ regex: String, _ text: String, _ expected: [String]) throws {
        #expect(try Self.split([regex], text) == expected)
    }

    @Test func typesApplyTheirRegexesInOrder() throws {
        let cases: [(String, String, [String])] = [
            ("TEKKEN", "HelloWORLDfoo ÀBc", ["Hello", "WORLDfoo", " ÀBc"]),
            ("CHAMELEON", "<sentinel:12>IMGIMGABCZ x    y", ["<", "sentinel", ":", "1", "2", ">", "IMGIMGABCZ", " x", "    ", "y"]),
            ("DEEPSEEK_LLM", "Hello, 世界! 123 \u{3000}x  ", ["Hello", ",", " ", "世界", "!", " ", "123", " ", "\u{3000}x", "  "]),
        ]
        for (type, text, expected) in cases {
            let regexes = try #require(PreTokenizer.types[type]).regexes
            #expect(try Self.split(regexes, text) == expected, "\(type)")
        }
    }

    @Test func everyNameLlamaCppAcceptsIsSupported() throws {
        #expect(PreTokenizer.names.count >= 90)
        for name in PreTokenizer.supportedNames {
            let pre = try PreTokenizer(ggufName: name)
            #expect(!pre.stages.isEmpty, "\(name)")
        }
        let gemma = try PreTokenizer(ggufName: "gemma4")
        #expect(gemma.escapeWhitespace && !gemma.byteEncode)
        let llama3 = try PreTokenizer(ggufName: "llama-bpe")
        #expect(llama3.ignoreMerges && llama3.addBOS && llama3.cleanSpaces && llama3.byteEncode)
        #expect(try !PreTokenizer(ggufName: "qwen2").cleanSpaces)
    }

    @Test func unknownNamesAreRefusedByName() {
        #expect(throws: TokenizerError("pre-tokenizer 'no-such-pre' is not supported")) {
            try PreTokenizer(ggufName: "no-such-pre")
        }
    }

    @Test func unsupportedSyntaxIsRefusedNotApproximated() {
        for regex in [#"(\w)\1"#, #"^a"#, #"\bx"#, "(?<=a)b", "a{3,2}", "[a"] {
            #expect(throws: TokenizerError.self, "\(regex)") { try RegexStage(regex: regex) }
        }
    }

    /// Long runs must stay linear and must not recurse: every distinct regex list on 20k spaces, letters, digits,
    /// newlines …
    @Test func longRunsOfOneClass() throws {
        var seen = Set<[String]>()
        let types = PreTokenizer.types.keys.sorted().filter { seen.insert(PreTokenizer.types[$0]!.regexes).inserted }
        for unit in [" ", "a", "7", "\n", "日", "\u{3000}", "é\u{301}"] {
            let text = String(repeating: unit, count: 20_000)
            for type in types {
                let name = try #require(PreTokenizer.names.first { $0.value.type == type }?.key)
                let pieces = try PreTokenizer(ggufName: name).pieces(of: text)
                #expect(pieces.reduce(0) { $0 + $1.unicodeScalars.count } == text.unicodeScalars.count, "\(type)")
            }
        }
    }
}
