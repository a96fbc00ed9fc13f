/// Splits text into the pieces BPE runs on, following llama.cpp's pre-tokenizers (which reproduce the models'
/// original Hugging Face tokenizers). Each stage splits every piece of the previous stage independently.
public enum PreTokenizer: String, Sendable {
    /// GPT-2's regex: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
    case gpt2
    /// SmolLM: every digit alone (`\p{N}`), then the GPT-2 regex.
    case smollm

    /// The pre-tokenizer named by `tokenizer.ggml.pre`, or nil when Tessera does not implement it.
    public init?(ggufName: String) {
        switch ggufName {
        case "smollm": self = .smollm
        case "gpt2", "default": self = .gpt2
        default: return nil
        }
    }

    /// Pieces of `text`, as arrays of Unicode scalars.
    func split(_ text: String) -> [ArraySlice<Unicode.Scalar>] {
        let scalars = Array(text.unicodeScalars)
        var pieces: [Range<Int>] = [0..<scalars.count]
        if self == .smollm { pieces = pieces.flatMap { Self.isolateDigits(scalars, $0) } }
        return pieces.flatMap { Self.gpt2(scalars, $0) }.map { scalars[$0] }
    }

    /// `\p{N}` with the matches kept as pieces of their own.
    static func isolateDigits(_ s: [Unicode.Scalar], _ range: Range<Int>) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var start = range.lowerBound
        for i in range where CharacterClass(s[i]) == .number {
            if start < i { out.append(start..<i) }
            out.append(i..<i + 1)
            start = i + 1
        }
        if start < range.upperBound { out.append(start..<range.upperBound) }
        return out
    }

    /// The GPT-2 regex, hand-written as llama.cpp does; lookahead stops at the end of the piece.
    static func gpt2(_ s: [Unicode.Scalar], _ range: Range<Int>) -> [Range<Int>] {
        let end = range.upperBound
        func cls(_ i: Int) -> CharacterClass? { i < end ? CharacterClass(s[i]) : nil }
        func isWS(_ i: Int) -> Bool { cls(i) == .whitespace }
        var out: [Range<Int>] = []
        var start = range.lowerBound
        var pos = start
        func emit(_ to: Int) { out.append(start..<to); start = to; pos = to }
        while pos < end {
            let c = s[pos]
            if c == "'" && pos + 1 < end {
                let n = s[pos + 1]
                if n == "s" || n == "t" || n == "m" || n == "d" { emit(pos + 2); continue }
                if pos + 2 < end {
                    let nn = s[pos + 2]
                    if (n == "r" && nn == "e") || (n == "v" && nn == "e") || (n == "l" && nn == "l") { emit(pos + 3); continue }
                }
            }
            let lead = c == " " ? cls(pos + 1) : cls(pos)
            if lead == .letter || lead == .number {
                var p = pos + (c == " " ? 1 : 0)
                while cls(p) == lead { p += 1 }
                emit(p)
                continue
            }
            if lead == .other {
                var p = pos + (c == " " ? 1 : 0)
                while cls(p) == .other { p += 1 }
                emit(p)
                continue
            }
            var n = 0
            while isWS(pos + n) { n += 1 }
            if n > 1 && pos + n < end { emit(pos + n - 1); continue }  // \s+(?!\S)
            if n > 0 { emit(pos + n); continue }  // \s+
            emit(pos + 1)
        }
        return out
    }
}

/// The classes the GPT-2 regex distinguishes.
enum CharacterClass: Equatable {
    case letter, number, whitespace, other

    init(_ s: Unicode.Scalar) {
        if s.properties.isWhitespace { self = .whitespace; return }
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: self = .letter
        case .decimalNumber, .letterNumber, .otherNumber: self = .number
        default: self = .other
        }
    }
}
