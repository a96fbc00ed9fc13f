/// What llama.cpp calls a token's attributes: its GGUF type (`tokenizer.ggml.token_type`) plus the corrections
/// llama.cpp makes by text (a `<|im_end|>` stored as normal is still a control token) and the strip flags some
/// families set on their special tokens.
public struct TokenAttributes: OptionSet, Sendable, Hashable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let undefined = TokenAttributes([])
    public static let unknown = TokenAttributes(rawValue: 1 << 0)
    public static let unused = TokenAttributes(rawValue: 1 << 1)
    public static let normal = TokenAttributes(rawValue: 1 << 2)
    /// Written by the chat template, never by text unless the caller asks (`parseSpecial`); prints nothing in answers.
    public static let control = TokenAttributes(rawValue: 1 << 3)
    /// Added to the vocabulary by the model's authors: matched whole in any text, printed as its text.
    public static let userDefined = TokenAttributes(rawValue: 1 << 4)
    /// SentencePiece's `<0xAB>` tokens.
    public static let byte = TokenAttributes(rawValue: 1 << 5)
    /// Whitespace on the token's left (`lstrip`) or right (`rstrip`) is swallowed when it is matched in text.
    public static let lstrip = TokenAttributes(rawValue: 1 << 7)
    public static let rstrip = TokenAttributes(rawValue: 1 << 8)

    /// The attributes of a GGUF token type; `undefined` for a number GGUF does not define.
    public init(ggufType: Int) {
        switch ggufType {
        case 1: self = .normal
        case 2: self = .unknown
        case 3: self = .control
        case 4: self = .userDefined
        case 5: self = .unused
        case 6: self = .byte
        default: self = .undefined
        }
    }
}

/// A model's tokens: text, score and attributes per id, and the reverse map. Shared by every tokenizer model.
public struct Vocabulary: Sendable {
    /// Token text per id, as stored in the GGUF (byte-level spelling for GPT-2-style BPE, `▁` for spaces in
    /// SentencePiece-style vocabularies).
    public let tokens: [String]
    /// SentencePiece scores (0 where the file has none).
    public let scores: [Float]
    public internal(set) var attributes: [TokenAttributes]
    /// Text -> id by exact bytes. When a text occurs twice, the later id wins, as in llama.cpp's map.
    let table: TokenTable
    /// The `<0xAB>` token of each byte, where the vocabulary has one.
    let byteTokens: [Int32?]

    public var count: Int { tokens.count }

    public init(tokens: [String], scores: [Float]? = nil, attributes: [TokenAttributes]? = nil) throws(TokenizerError) {
        guard !tokens.isEmpty, tokens.count < Int(Int32.max) else {
            throw TokenizerError("vocabulary size \(tokens.count) is out of range")
        }
        let scores = scores ?? Array(repeating: 0, count: tokens.count)
        let attributes = attributes ?? Array(repeating: .normal, count: tokens.count)
        guard scores.count >= tokens.count else { throw TokenizerError("\(scores.count) scores for \(tokens.count) tokens") }
        guard attributes.count >= tokens.count else {
            throw TokenizerError("\(attributes.count) token types for \(tokens.count) tokens")
        }
        var texts = tokens
        for i in texts.indices where texts[i].isEmpty {
            // llama.cpp renames empty tokens so that every id keeps a distinct text.
            texts[i] = "[EMPTY_\(i)]"
        }
        let table = TokenTable(tokens: texts)
        var byteTokens = [Int32?](repeating: nil, count: 256)
        for b in 0..<256 {
            byteTokens[b] = table[Array(Self.byteTokenText(UInt8(b)).utf8)[...]]
        }
        self.tokens = texts
        self.scores = Array(scores.prefix(tokens.count))
        self.attributes = Array(attributes.prefix(tokens.count))
        self.table = table
        self.byteTokens = byteTokens
    }

    /// The id of a token's exact text, if the vocabulary has it.
    public func id(of text: String) -> Int32? { table[Array(text.utf8)[...]] }

    /// SentencePiece's spelling of a byte token: `<0x0A>`.
    package static func byteTokenText(_ b: UInt8) -> String {
        let hex = Array("0123456789ABCDEF")
        return "<0x\(hex[Int(b >> 4)])\(hex[Int(b & 15)])>"
    }

    /// The byte a `<0xAB>` token stands for.
    static func byteValue(ofByteToken text: String) -> UInt8? {
        let u = Array(text.utf8)
        guard u.count == 6, u[0] == UInt8(ascii: "<"), u[1] == UInt8(ascii: "0"), u[2] == UInt8(ascii: "x"),
              u[5] == UInt8(ascii: ">") else { return nil }
        return UInt8(String(decoding: u[3..<5], as: UTF8.self), radix: 16)
    }

    func attributes(of id: Int32) -> TokenAttributes {
        id >= 0 && Int(id) < attributes.count ? attributes[Int(id)] : []
    }
}
