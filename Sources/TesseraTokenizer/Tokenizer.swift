import TesseraFormats

/// Byte-level BPE tokenizer built from a GGUF file's `tokenizer.ggml.*` metadata.
public struct Tokenizer: Sendable {
    /// GGUF token types.
    public enum TokenType: Int, Sendable {
        case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
    }

    public let tokens: [String]
    public let types: [TokenType]
    public let preTokenizer: PreTokenizer
    public let bosID: Int32?
    public let eosID: Int32?
    public let addBOS: Bool
    /// The Jinja chat template stored in the model, if any.
    public let chatTemplate: String?

    private let ids: [String: Int32]
    private let bpe: BPE
    /// Control and user-defined tokens, longest text first: where they occur in input text they are matched whole.
    private let specials: [(text: [Unicode.Scalar], id: Int32)]
    /// Bytes each token stands for when decoded.
    private let tokenBytes: [[UInt8]]

    public var vocabularySize: Int { tokens.count }

    public init(gguf: GGUFFile) throws(TokenizerError) {
        do {
            let model = try gguf.string("tokenizer.ggml.model")
            guard model == "gpt2" else {
                throw TokenizerError("\(gguf.path): tokenizer model '\(model)' is not supported (only byte-level BPE, 'gpt2')")
            }
            let pre = gguf.metadata["tokenizer.ggml.pre"]?.string ?? "default"
            guard let preTokenizer = PreTokenizer(ggufName: pre) else {
                throw TokenizerError("\(gguf.path): pre-tokenizer '\(pre)' is not supported (smollm, gpt2, default are)")
            }
            let tokenValues = try gguf.array("tokenizer.ggml.tokens")
            let typeValues = gguf.metadata["tokenizer.ggml.token_type"]?.array
            let mergeValues = try gguf.array("tokenizer.ggml.merges")
            func optionalID(_ key: String) throws(TokenizerError) -> Int32? {
                guard let v = gguf.metadata[key] else { return nil }
                guard let i = v.int, i >= 0, i < tokenValues.count else {
                    throw TokenizerError("\(gguf.path): \(key) = \(v) is not a token id below \(tokenValues.count)")
                }
                return Int32(i)
            }
            try self.init(
                tokens: tokenValues.enumerated().map { (i, v) throws(TokenizerError) in
                    guard let s = v.string else { throw TokenizerError("\(gguf.path): token \(i) is not a string") }
                    return s
                },
                types: typeValues.map { vs throws(TokenizerError) in
                    try vs.enumerated().map { (i, v) throws(TokenizerError) in
                        guard let t = v.int.flatMap(TokenType.init(rawValue:)) else {
                            throw TokenizerError("\(gguf.path): token \(i) has unknown type \(v)")
                        }
                        return t
                    }
                },
                merges: mergeValues.enumerated().map { (i, v) throws(TokenizerError) in
                    guard let s = v.string else { throw TokenizerError("\(gguf.path): merge \(i) is not a string") }
                    return s
                },
                preTokenizer: preTokenizer,
                bosID: try optionalID("tokenizer.ggml.bos_token_id"),
                eosID: try optionalID("tokenizer.ggml.eos_token_id"),
                addBOS: gguf.metadata["tokenizer.ggml.add_bos_token"]?.bool ?? false,
                chatTemplate: gguf.metadata["tokenizer.chat_template"]?.string)
        } catch let e as FormatError {
            throw TokenizerError(e.description)
        } catch let e as TokenizerError {
            throw e
        } catch {
            throw TokenizerError("\(error)")
        }
    }

    public init(
        tokens: [String], types: [TokenType]?, merges: [String], preTokenizer: PreTokenizer,
        bosID: Int32? = nil, eosID: Int32? = nil, addBOS: Bool = false, chatTemplate: String? = nil
    ) throws(TokenizerError) {
        guard !tokens.isEmpty, tokens.count < Int(Int32.max) else { throw TokenizerError("vocabulary size \(tokens.count) is out of range") }
        let types = types ?? Array(repeating: .normal, count: tokens.count)
        guard types.count == tokens.count else {
            throw TokenizerError("\(types.count) token types for \(tokens.count) tokens")
        }
        var ids: [String: Int32] = [:]
        ids.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() where ids[t] == nil { ids[t] = Int32(i) }

        var table: [UInt64: BPE.Merge] = [:]
        table.reserveCapacity(merges.count)
        for (rank, m) in merges.enumerated() {
            let parts = m.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2 else { throw TokenizerError("merge \(rank) '\(m)' is not two symbols separated by one space") }
            let l = String(parts[0]), r = String(parts[1])
            guard let a = ids[l], let b = ids[r], let c = ids[l + r] else { continue }  // unreachable merge: ignore
            let key = BPE.key(a, b)
            if table[key] == nil { table[key] = BPE.Merge(rank: Int32(rank), result: c) }
        }

        var specials: [(text: [Unicode.Scalar], id: Int32)] = []
        var bytes: [[UInt8]] = []
        bytes.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() {
            switch types[i] {
            case .control, .userDefined:
                if !t.isEmpty { specials.append((Array(t.unicodeScalars), Int32(i))) }
                bytes.append(Array(t.utf8))
            case .byte:
                // "<0xAB>" tokens of SentencePiece-style vocabularies.
                if t.count == 6, t.hasPrefix("<0x"), t.hasSuffix(">"), let b = UInt8(t.dropFirst(3).prefix(2), radix: 16) {
                    bytes.append([b])
                } else {
                    bytes.append(Array(t.utf8))
                }
            default:
                bytes.append(ByteLevel.decode(t) ?? Array(t.utf8))
            }
        }
        specials.sort { $0.text.count > $1.text.count }

        self.tokens = tokens
        self.types = types
        self.preTokenizer = preTokenizer
        self.bosID = bosID
        self.eosID = eosID
        self.addBOS = addBOS
        self.chatTemplate = chatTemplate
        self.ids = ids
        self.bpe = BPE(merges: table)
        self.specials = specials
        self.tokenBytes = bytes
    }

    /// The id of a token's exact text, if the vocabulary has it.
    public func id(of token: String) -> Int32? { ids[token] }

    /// Token ids of `text`. With `parseSpecial`, control tokens written in the text (such as `<|im_start|>`) become
    /// their ids, as transformers and llama.cpp do; user-defined tokens are always matched.
    public func encode(_ text: String, addSpecial: Bool = false, parseSpecial: Bool = true) -> [Int32] {
        var out: [Int32] = []
        if addSpecial, addBOS, let bos = bosID { out.append(bos) }
        for fragment in partition(Array(text.unicodeScalars), parseSpecial: parseSpecial) {
            switch fragment {
            case .special(let id): out.append(id)
            case .text(let scalars): encodePlain(scalars, into: &out)
            }
        }
        return out
    }

    private enum Fragment {
        case text(ArraySlice<Unicode.Scalar>)
        case special(Int32)
    }

    /// Splits text around special tokens, longest token first over all fragments (llama.cpp's order).
    private func partition(_ scalars: [Unicode.Scalar], parseSpecial: Bool) -> [Fragment] {
        var fragments: [Fragment] = [.text(scalars[...])]
        for (text, id) in specials {
            if !parseSpecial && types[Int(id)] == .control { continue }
            var next: [Fragment] = []
            for f in fragments {
                guard case .text(let s) = f, s.count >= text.count else { next.append(f); continue }
                var start = s.startIndex
                var i = s.startIndex
                while i + text.count <= s.endIndex {
                    if s[i] == text[0] && s[i..<i + text.count].elementsEqual(text) {
                        if start < i { next.append(.text(s[start..<i])) }
                        next.append(.special(id))
                        i += text.count
                        start = i
                    } else {
                        i += 1
                    }
                }
                if start < s.endIndex { next.append(.text(s[start..<s.endIndex])) }
            }
            fragments = next
        }
        return fragments
    }

    private func encodePlain(_ scalars: ArraySlice<Unicode.Scalar>, into out: inout [Int32]) {
        var text = String.UnicodeScalarView()
        text.append(contentsOf: scalars)
        for piece in preTokenizer.split(String(text)) {
            var utf8: [UInt8] = []
            for s in piece { UTF8.encode(s) { utf8.append($0) } }
            let word = ByteLevel.encode(utf8)
            if let whole = ids[word] {
                out.append(whole)
                continue
            }
            var symbols: [Int32] = []
            symbols.reserveCapacity(utf8.count)
            for ch in word.unicodeScalars {
                if let id = ids[String(ch)] { symbols.append(id) }
            }
            out.append(contentsOf: bpe.apply(symbols))
        }
    }

    /// Bytes the vocabulary has no byte-level token for (SmolLM2 lacks a few C0 controls and rare UTF-8 lead
    /// bytes). `encode` drops them, as Hugging Face's BPE drops what it cannot encode; everything else round-trips.
    public var bytesWithoutToken: Set<UInt8> {
        Set((0..<256).filter { ids[String(ByteLevel.byteToScalar[$0])] == nil }.map { UInt8($0) })
    }

    /// The bytes token `id` stands for; empty for ids outside the vocabulary.
    public func bytes(of id: Int32) -> [UInt8] {
        id >= 0 && Int(id) < tokenBytes.count ? tokenBytes[Int(id)] : []
    }

    /// Text of a token sequence. Control tokens are written as their text, so decoding then encoding round-trips.
    public func decode(_ ids: [Int32]) -> String {
        var bytes: [UInt8] = []
        for id in ids { bytes.append(contentsOf: self.bytes(of: id)) }
        return String(decoding: bytes, as: UTF8.self)
    }

    public func isControl(_ id: Int32) -> Bool {
        id >= 0 && Int(id) < types.count && types[Int(id)] == .control
    }
}
