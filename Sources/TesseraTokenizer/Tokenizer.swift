import TesseraFormats

/// A model's tokenizer, read from its GGUF metadata as llama.cpp reads it (`src/llama-vocab.cpp` is the reference for
/// behaviour): the vocabulary, the tokenizer model (byte-level BPE with its pre-tokenizer, or SentencePiece), the
/// special tokens and which of them end a generation. `encode` gives llama.cpp's ids id for id.
public struct Tokenizer: Sendable {
    /// The algorithms behind `tokenizer.ggml.model`.
    public enum Model: Sendable {
        /// `gpt2` (byte-level BPE, with `tokenizer.ggml.pre` naming the pre-tokenizer) and `gemma4` (BPE over raw
        /// UTF-8 with `▁` for spaces).
        case bytePair(BytePairEncoder)
        /// `llama`: SentencePiece BPE with scores and byte fallback.
        case sentencePiece(SentencePieceEncoder)
    }

    public let vocabulary: Vocabulary
    public let model: Model
    public let special: SpecialTokens
    /// The Jinja chat template stored in the model, if any.
    public let chatTemplate: String?
    /// SentencePiece's leading space before text at the start or after a special token.
    public let addSpacePrefix: Bool
    /// llama.cpp's `clean_up_tokenization_spaces` when detokenizing (" ," -> ","): the byte-level pre-tokenizers
    /// that set it.
    public let cleanSpaces: Bool
    /// Control, user-defined and unknown tokens, longest text first: where they occur in input text they are matched
    /// whole (control and unknown ones only with `parseSpecial`).
    private let specialTokens: [(text: [UInt8], id: Int32)]
    /// Which first two bytes some special token of two or more bytes starts with (a 65,536-bit set): text is
    /// indexed by these pairs once, so each special token is looked for only where it could start.
    private let specialStarts: [UInt64]
    /// Bytes each token stands for when decoded with special tokens printed (llama.cpp's piece cache).
    private let pieces: [[UInt8]]

    public var tokens: [String] { vocabulary.tokens }
    public var vocabularySize: Int { vocabulary.count }
    public var bosID: Int32? { special.bos }
    public var eosID: Int32? { special.eos }
    public var addBOS: Bool { special.addBOS }

    /// Reads the tokenizer of a GGUF file (a full model or a vocab-only file). An unknown tokenizer model or
    /// pre-tokenizer is refused with its name, never tokenized another way.
    public init(gguf: GGUFFile) throws(TokenizerError) {
        let m = GGUFMetadataReader(gguf)
        try self.init(metadata: m)
    }

    init(metadata m: GGUFMetadataReader) throws(TokenizerError) {
        let modelName = try m.string("tokenizer.ggml.model")
        let tokens = try m.strings("tokenizer.ggml.tokens")
        let n = tokens.count
        let scores = try m.optionalFloats("tokenizer.ggml.scores", atLeast: n)
        let types = try m.optionalInts("tokenizer.ggml.token_type", atLeast: n)
        var vocabulary = try Vocabulary(tokens: tokens, scores: scores, attributes: types.map { $0.map(TokenAttributes.init(ggufType:)) })

        // The model decides the default special ids; the special tokens (which may retype tokens) come before the
        // encoders, which take the unknown token from them.
        var defaults = SpecialTokens.Defaults.none
        var pre: PreTokenizer?
        var addSpacePrefix = false
        switch modelName {
        case "llama":
            defaults = .sentencePiece
            addSpacePrefix = true
        case "gpt2", "gemma4":
            // Gemma 4's file names its own model; llama.cpp runs it as BPE with the `gemma4` pre-tokenizer.
            let preName = modelName == "gemma4" ? "gemma4" : (m.optionalString("tokenizer.ggml.pre") ?? "default")
            let p = try PreTokenizer(ggufName: preName)
            // Gemma 4's own model names no default ids; GLM's pre-tokenizers clear the default BOS (the file may
            // still name one).
            defaults = modelName == "gemma4" ? .none
                : ["chatglm-bpe", "glm4", "glm5"].contains(preName) ? .bytePairWithoutBOS : p.addBOS ? .bytePairWithBOS : .bytePair
            pre = p
        default:
            throw TokenizerError("\(m.path): tokenizer model '\(modelName)' is not supported "
                + "(supported: gpt2 (byte-level BPE), llama (SentencePiece BPE), gemma4)")
        }
        if let v = try m.optionalBool("tokenizer.ggml.add_space_prefix") { addSpacePrefix = v }
        let special = try SpecialTokens(metadata: m, defaults: defaults, alwaysAddBOS: pre?.type == "GEMMA4", vocabulary: &vocabulary)

        let model: Model
        if let pre {
            // Kimi K2's files carry no merges (its pre-tokenizer does the work).
            let merges = pre.name == "kimi-k2" && m.metadata["tokenizer.ggml.merges"] == nil ? [] : try m.strings("tokenizer.ggml.merges")
            model = .bytePair(try BytePairEncoder(vocabulary: vocabulary, merges: merges, preTokenizer: pre))
        } else {
            model = .sentencePiece(try SentencePieceEncoder(vocabulary: vocabulary, unknownID: special.unknown))
        }
        let cleanSpaces = pre?.cleanSpaces ?? false
        self.init(vocabulary: vocabulary, model: model, special: special, addSpacePrefix: addSpacePrefix, cleanSpaces: cleanSpaces,
                  chatTemplate: m.optionalString("tokenizer.chat_template")
                    ?? BuiltinTemplates.source(architecture: m.optionalString("general.architecture")))
    }

    init(vocabulary: Vocabulary, model: Model, special: SpecialTokens, addSpacePrefix: Bool, cleanSpaces: Bool, chatTemplate: String?) {
        var specials: [(text: [UInt8], id: Int32)] = []
        for (i, a) in vocabulary.attributes.enumerated() where !a.isDisjoint(with: [.control, .userDefined, .unknown]) {
            specials.append((Array(vocabulary.tokens[i].utf8), Int32(i)))
        }
        // Longest first; among equal lengths, lower ids first (llama.cpp's std::sort is not stable, but tokens of
        // equal length cannot overlap in a way that makes the order matter unless one equals the other).
        specials.sort { $0.text.count != $1.text.count ? $0.text.count > $1.text.count : $0.id < $1.id }

        var pieces: [[UInt8]] = []
        pieces.reserveCapacity(vocabulary.count)
        for i in 0..<vocabulary.count {
            pieces.append(Self.piece(Int32(i), vocabulary: vocabulary, model: model))
        }
        self.vocabulary = vocabulary
        self.model = model
        self.special = special
        self.addSpacePrefix = addSpacePrefix
        self.cleanSpaces = cleanSpaces
        self.chatTemplate = chatTemplate
        self.specialTokens = specials
        var starts = [UInt64](repeating: 0, count: 1024)
        for (text, _) in specials where text.count >= 2 {
            let pair = Int(text[0]) << 8 | Int(text[1])
            starts[pair >> 6] |= 1 << UInt64(pair & 63)
        }
        self.specialStarts = starts
        self.pieces = pieces
    }

    /// The id of a token's exact text, if the vocabulary has it.
    public func id(of token: String) -> Int32? { vocabulary.id(of: token) }

    public func attributes(of id: Int32) -> TokenAttributes { vocabulary.attributes(of: id) }

    /// Token ids of `text`, as llama.cpp's `llama_tokenize(text, add_special, parse_special)`. With `addSpecial` the
    /// model's BOS (and EOS, where the file asks for it) are added; with `parseSpecial`, control tokens written in
    /// the text (such as `<|im_start|>`) become their ids. User-defined tokens are always matched.
    ///
    /// `continuesText`: the text goes on from earlier text that did not end in a special token (a piece of a
    /// conversation tokenized part by part), so SentencePiece adds no space before it, as it would not inside the
    /// whole text.
    public func encode(_ text: String, addSpecial: Bool = false, parseSpecial: Bool = true, continuesText: Bool = false) -> [Int32] {
        var out: [Int32] = []
        if addSpecial, special.addBOS, let bos = special.bos { out.append(bos) }
        let utf8 = Array(text.utf8)
        var previousWasSpecial = !continuesText  // SentencePiece: a space before the first text
        for fragment in partition(utf8, parseSpecial: parseSpecial) {
            switch fragment {
            case .special(let id):
                out.append(id)
                previousWasSpecial = true
            case .text(let range):
                switch model {
                case .sentencePiece(let spm):
                    var bytes: [UInt8] = []
                    if addSpacePrefix && previousWasSpecial { bytes.append(0x20) }
                    bytes.append(contentsOf: utf8[range])
                    spm.encode(bytes[...], into: &out)
                case .bytePair(let bpe):
                    bpe.encode(utf8[range], into: &out)
                }
                previousWasSpecial = false
            }
        }
        if addSpecial, special.addEOS, let eos = special.eos { out.append(eos) }
        return out
    }

    /// Token ids of a prompt rendered by the chat template: special tokens parsed, and the model's BOS added only
    /// when the template did not already write it (most templates start with `{{ bos_token }}`), so a prompt never
    /// starts with two (as llama.cpp's server and transformers' `apply_chat_template` behave).
    public func encodeRendered(_ text: String) -> [Int32] {
        var ids = encode(text, addSpecial: false, parseSpecial: true)
        if special.addBOS, let bos = special.bos, ids.first != bos { ids.insert(bos, at: 0) }
        return ids
    }

    private enum Fragment {
        case text(Range<Int>)
        case special(Int32)
    }

    /// Splits text around special tokens, longest token first over all fragments (llama.cpp's
    /// `tokenizer_st_partition`), on bytes as llama.cpp does, with each token's lstrip/rstrip. Within a fragment a
    /// token's matches are taken leftmost first and never overlap, as repeated `std::string::find` takes them.
    private func partition(_ text: [UInt8], parseSpecial: Bool) -> [Fragment] {
        guard !text.isEmpty else { return [] }
        // Where each indexed pair of bytes occurs, in order.
        var pairs: [Int: [Int]] = [:]
        if text.count >= 2 {
            for i in 0..<(text.count - 1) {
                let pair = Int(text[i]) << 8 | Int(text[i + 1])
                if specialStarts[pair >> 6] & (1 << UInt64(pair & 63)) != 0 { pairs[pair, default: []].append(i) }
            }
        }
        var fragments: [Fragment] = [.text(0..<text.count)]
        var occurrences: [Int] = []
        for (token, id) in specialTokens {
            let attrs = vocabulary.attributes(of: id)
            if !parseSpecial && !attrs.isDisjoint(with: [.control, .unknown]) { continue }
            occurrences.removeAll(keepingCapacity: true)
            if token.count == 1 {
                for i in text.indices where text[i] == token[0] { occurrences.append(i) }
            } else if let starts = pairs[Int(token[0]) << 8 | Int(token[1])] {
                for i in starts where i + token.count <= text.count && text[i..<i + token.count].elementsEqual(token) {
                    occurrences.append(i)
                }
            }
            guard !occurrences.isEmpty else { continue }
            var next: [Fragment] = []
            next.reserveCapacity(fragments.count + 2 * occurrences.count)
            var k = 0
            for f in fragments {
                guard case .text(let r) = f else { next.append(f); continue }
                var start = r.lowerBound
                while k < occurrences.count && occurrences[k] < r.lowerBound { k += 1 }
                while k < occurrences.count && occurrences[k] + token.count <= r.upperBound {
                    let i = occurrences[k]
                    k += 1
                    guard i >= start else { continue }  // overlaps the previous match (or was stripped)
                    var leftEnd = i
                    if attrs.contains(.lstrip) { while leftEnd > start && Self.isSpace(text[leftEnd - 1]) { leftEnd -= 1 } }
                    if start < leftEnd { next.append(.text(start..<leftEnd)) }
                    next.append(.special(id))
                    start = i + token.count
                    if attrs.contains(.rstrip) { while start < r.upperBound && Self.isSpace(text[start]) { start += 1 } }
                }
                if start < r.upperBound { next.append(.text(start..<r.upperBound)) }
            }
            fragments = next
        }
        return fragments
    }

    /// C's `isspace` in the "C" locale, which llama.cpp's strip flags use.
    private static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || (0x09...0x0D).contains(b) }

    /// The bytes a token prints, as llama.cpp's `token_to_piece(id, special: true)`: control, unknown and
    /// user-defined tokens print their text; normal tokens their decoded text; byte tokens their byte; unused and
    /// undefined ones nothing.
    private static func piece(_ id: Int32, vocabulary: Vocabulary, model: Model) -> [UInt8] {
        let text = vocabulary.tokens[Int(id)]
        let a = vocabulary.attributes[Int(id)]
        if !a.isDisjoint(with: [.control, .unknown, .userDefined]) { return Array(text.utf8) }
        if a.contains(.normal) {
            switch model {
            case .sentencePiece: return Self.unescapeSpaces(text)
            case .bytePair(let bpe):
                return bpe.preTokenizer.escapeWhitespace ? Self.unescapeSpaces(text) : ByteLevel.decodeForPiece(text)
            }
        }
        if a.contains(.byte) { return Vocabulary.byteValue(ofByteToken: text).map { [$0] } ?? [] }
        return []
    }

    /// `▁` (U+2581) back to a space.
    package static func unescapeSpaces(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        let u = Array(text.utf8)
        out.reserveCapacity(u.count)
        var i = 0
        while i < u.count {
            if i + 2 < u.count && u[i] == 0xE2 && u[i + 1] == 0x96 && u[i + 2] == 0x81 {
                out.append(0x20)
                i += 3
            } else {
                out.append(u[i])
                i += 1
            }
        }
        return out
    }

    /// Bytes a byte-level BPE vocabulary has no token for (SmolLM2 lacks a few C0 controls and rare UTF-8 lead
    /// bytes): `encode` drops them, as llama.cpp does, so text holding them does not round-trip. Empty for the other
    /// models, whose byte fallback covers every byte.
    public var bytesWithoutToken: Set<UInt8> {
        guard case .bytePair(let bpe) = model, !bpe.preTokenizer.escapeWhitespace else { return [] }
        return Set((0..<256).filter { vocabulary.id(of: String(ByteLevel.byteToScalar[$0])) == nil }.map { UInt8($0) })
    }

    /// The bytes token `id` stands for (control tokens included); empty for ids outside the vocabulary.
    public func bytes(of id: Int32) -> [UInt8] {
        id >= 0 && Int(id) < pieces.count ? pieces[Int(id)] : []
    }

    /// Text of a token sequence, as llama.cpp's `llama_detokenize(remove_special: false, unparse_special: true)`:
    /// special tokens are written as their text, so decoding then encoding with `parseSpecial` round-trips, and
    /// SentencePiece's leading space is removed as llama.cpp removes it.
    public func decode(_ ids: [Int32], removeSpecial: Bool = false, unparseSpecial: Bool = true) -> String {
        var ids = ids[...]
        var removeSpace = addSpacePrefix
        if removeSpecial && special.addBOS, ids.first == special.bos, special.bos != nil {
            removeSpace = false
            ids = ids.dropFirst()
        }
        if removeSpecial && special.addEOS, ids.last == special.eos, special.eos != nil { ids = ids.dropLast() }
        var out: [UInt8] = []
        for id in ids {
            if !unparseSpecial && !attributes(of: id).isDisjoint(with: [.control, .unknown]) { removeSpace = false; continue }
            var p = bytes(of: id)[...]
            if removeSpace && p.first == 0x20 { p = p.dropFirst() }
            removeSpace = false
            out.append(contentsOf: p)
        }
        if cleanSpaces { out = Self.cleanUpSpaces(out) }
        return String(decoding: out, as: UTF8.self)
    }

    /// llama.cpp's three passes of `clean_up_tokenization_spaces`: " ?", " !", " .", " ," lose their space; a lone
    /// apostrophe between spaces loses both; " 's", " 'm", " 're", " 've" lose their space.
    static func cleanUpSpaces(_ text: [UInt8]) -> [UInt8] {
        guard !text.isEmpty else { return text }
        var t = text
        var total = 1
        for i in 1..<t.count {
            let x = t[i]
            if t[i - 1] == 0x20 && (x == UInt8(ascii: "?") || x == UInt8(ascii: "!") || x == UInt8(ascii: ".") || x == UInt8(ascii: ",")) {
                total -= 1
            }
            t[total] = x
            total += 1
        }
        t.removeSubrange(total...)
        guard !t.isEmpty else { return t }
        let total2 = t.count
        total = 1
        var i = 1
        while i < total2 {
            let x = t[i]
            if x == UInt8(ascii: "'") && i + 1 < total2 && t[i - 1] == 0x20 && t[i + 1] == 0x20 {
                total -= 1
                i += 1
                t[i] = 0  // the next space is dropped; llama.cpp writes a NUL over it and skips it
            }
            t[total] = x
            total += 1
            i += 1
        }
        t.removeSubrange(total...)
        guard !t.isEmpty else { return t }
        let total3 = t.count
        total = 1
        for i in 1..<total3 {
            let x = t[i]
            if t[i - 1] == 0x20 && x == UInt8(ascii: "'") && i + 1 < total3 {
                let x1 = t[i + 1]
                if x1 == UInt8(ascii: "s") || x1 == UInt8(ascii: "m") {
                    total -= 1
                } else if i + 2 < total3 {
                    let x2 = t[i + 2]
                    if (x1 == UInt8(ascii: "r") && x2 == UInt8(ascii: "e")) || (x1 == UInt8(ascii: "v") && x2 == UInt8(ascii: "e")) {
                        total -= 1
                    }
                }
            }
            t[total] = x
            total += 1
        }
        t.removeSubrange(total...)
        return t
    }

    /// Control and unknown tokens: written by templates, printed as nothing in answers.
    public func isControl(_ id: Int32) -> Bool {
        !attributes(of: id).isDisjoint(with: [.control, .unknown])
    }

    /// Control, user-defined and unknown tokens: the ones text is split around before the tokenizer model runs.
    public func isSpecial(_ id: Int32) -> Bool {
        !attributes(of: id).isDisjoint(with: [.control, .userDefined, .unknown])
    }

    /// Whether generating `id` ends the answer (llama.cpp's `llama_vocab_is_eog`).
    public func isEndOfGeneration(_ id: Int32) -> Bool { special.endOfGeneration.contains(id) }
}
