/// Splits text into the pieces BPE runs on, exactly as llama.cpp's `unicode_regex_split` does for the
/// `tokenizer.ggml.pre` type (which reproduces the model's original Hugging Face pre-tokenizer, quirks included):
/// each regex of the type's list splits every piece of the previous one, the text between matches staying a piece.
/// Regexes llama.cpp hand-writes are run by the same hand-written logic (`CustomSplitter`); the others by a regex
/// engine with `std::regex`'s semantics on llama.cpp's collapsed text (`RegexStage`). The tables of types and names
/// (PreTokenizerTable.swift) are generated from llama.cpp's source.
public struct PreTokenizer: Sendable {
    package enum Stage: Sendable {
        case custom(CustomSplitter)
        case regex(RegexStage)
    }

    public let name: String
    /// llama.cpp's `LLAMA_VOCAB_PRE_TYPE_*` without the prefix.
    let type: String
    /// Spaces become `▁` before splitting (Gemma 4).
    package let escapeWhitespace: Bool
    /// A whole piece that is a token is taken as it is, merges or not (llama.cpp's `ignore_merges`).
    package let ignoreMerges: Bool
    /// Detokenizing removes the spaces before punctuation (llama.cpp's `clean_spaces`).
    package let cleanSpaces: Bool
    /// The pre-tokenizer's family adds BOS unless the file says otherwise.
    package let addBOS: Bool
    /// Pieces are spelled in GPT-2's byte-level alphabet before merging (false: raw UTF-8, byte tokens `<0xAB>`).
    package let byteEncode: Bool
    package let stages: [Stage]

    /// Every name llama.cpp accepts for a BPE vocabulary (`default` when the file has none); anything else is refused.
    public init(ggufName: String) throws(TokenizerError) {
        guard let entry = Self.names[ggufName], let type = Self.types[entry.type] else {
            throw TokenizerError("pre-tokenizer '\(ggufName)' is not supported")
        }
        var stages: [Stage] = []
        for regex in type.regexes {
            if let custom = CustomSplitter(regex: regex) {
                stages.append(.custom(custom))
            } else {
                do {
                    stages.append(.regex(try RegexStage(regex: regex)))
                } catch {
                    throw TokenizerError("pre-tokenizer '\(ggufName)' is not supported: \(error.message)")
                }
            }
        }
        self.name = ggufName
        self.type = entry.type
        self.escapeWhitespace = entry.escapeWhitespace
        self.ignoreMerges = entry.ignoreMerges
        self.cleanSpaces = entry.cleanSpaces
        self.addBOS = entry.addBOS
        self.byteEncode = type.byteEncode
        self.stages = stages
    }

    /// Every `tokenizer.ggml.pre` value accepted.
    public static var supportedNames: [String] { names.keys.sorted() }

    /// Pieces of `cpts` (lengths in codepoints, in order, none empty).
    package func split(_ cpts: UnsafeBufferPointer<UInt32>, scratch: inout Scratch) -> [Int] {
        var pieces = cpts.isEmpty ? [] : [cpts.count]
        var haveCollapsed = false, haveWide = false
        UnicodeFlags.table.withUnsafeBufferPointer { flags in
            for (k, stage) in stages.enumerated() {
                var out: [Int] = []
                out.reserveCapacity(pieces.count + cpts.count / 4)
                switch stage {
                case .custom(let splitter):
                    splitter.split(cpts, flags, pieces: pieces, into: &out)
                case .regex(let regex):
                    if regex.collapsed && !haveCollapsed {
                        scratch.collapsed = RegexStage.collapsedText(cpts, flags)
                        haveCollapsed = true
                    } else if !regex.collapsed && !haveWide {
                        scratch.wide = RegexStage.wideText(cpts, flags)
                        haveWide = true
                    }
                    // Taken out while in use, so its buffers stay uniquely referenced.
                    var matcher = scratch.matchers[k] ?? RegexMatcher(regex.program)
                    scratch.matchers[k] = nil
                    (regex.collapsed ? scratch.collapsed : scratch.wide).withUnsafeBufferPointer { text in
                        regex.split(text, pieces: pieces, matcher: &matcher, into: &out)
                    }
                    scratch.matchers[k] = matcher
                }
                pieces = out
            }
        }
        return pieces
    }

    /// Buffers one tokenization reuses across fragments of the same text.
    package struct Scratch {
        var collapsed: [UInt32] = []
        var wide: [UInt32] = []
        var matchers: [RegexMatcher?]

        init(_ pre: PreTokenizer) { matchers = Array(repeating: nil, count: pre.stages.count) }
    }

    /// Pieces of `text` as strings (for tests and tools): llama.cpp's `unicode_regex_split` without byte encoding.
    public func pieces(of text: String) -> [String] {
        var cpts: [UInt32] = []
        let bytes: [UInt8] = escapeWhitespace ? text.replacingSpaces() : Array(text.utf8)
        bytes.withUnsafeBufferPointer { LlamaUTF8.codepoints($0, into: &cpts) }
        var scratch = Scratch(self)
        let lengths = cpts.withUnsafeBufferPointer { split($0, scratch: &scratch) }
        var out: [String] = []
        var start = 0
        for n in lengths {
            var utf8: [UInt8] = []
            for c in cpts[start..<start + n] { LlamaUTF8.append(c, to: &utf8) }
            out.append(String(decoding: utf8, as: UTF8.self))
            start += n
        }
        return out
    }
}

extension String {
    fileprivate func replacingSpaces() -> [UInt8] {
        var out: [UInt8] = []
        for b in utf8 {
            if b == 0x20 { out.append(contentsOf: [0xE2, 0x96, 0x81]) } else { out.append(b) }
        }
        return out
    }
}
