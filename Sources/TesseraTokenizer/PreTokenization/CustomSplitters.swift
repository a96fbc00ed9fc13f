/// The splitters llama.cpp hand-writes for its most used regexes (`unicode_regex_split_custom_*`). They are its
/// behaviour, not the regex's: where the two differ (a lookahead that stops at the end of a piece, `'S` matched by a
/// table lookup, letters found by flags rather than by the regex engine) these follow llama.cpp.
package enum CustomSplitter: Sendable, Equatable {
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`
    case gpt2
    /// Llama 3's regex (`\p{N}{1,3}`), and Qwen 2's (`\p{N}`): `(?i:'s|…)|[^\r\n\p{L}\p{N}]?\p{L}+|…|\s+`
    case llama3(maxDigits: Int)
    /// Qwen 3.5: Qwen 2's with `[\p{L}\p{M}]+` letter runs.
    case qwen35
    /// Kimi K2's whole regex, Han runs first.
    case kimiK2
    /// `\p{AFMoE_digits}` and Tiny Aya's `\d{1,3}(?=(?:\d{3})*\b)`: digit runs in groups of three from the right.
    case digitGroups
    /// `[^\n]+|[\n]+`
    case newlines

    /// llama.cpp's `unicode_regex_split_custom`: the splitter for a regex, if it has one.
    package init?(regex: String) {
        switch regex {
        case #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"#:
            self = .gpt2
        case #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#,
             #"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#:
            self = .llama3(maxDigits: 3)
        case #"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#:
            self = .llama3(maxDigits: 1)
        case #"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#:
            self = .qwen35
        case #"\p{Han}+"#:
            self = .kimiK2
        case #"\p{AFMoE_digits}"#, #"\d{1,3}(?=(?:\d{3})*\b)"#:
            self = .digitGroups
        case #"[^\n]+|[\n]+"#:
            self = .newlines
        default:
            return nil
        }
    }

    /// Splits each piece (`pieces` are lengths in codepoints, consecutive over `cpts`); appends the new lengths.
    package func split(_ cpts: UnsafeBufferPointer<UInt32>, _ flags: UnsafeBufferPointer<UInt16>, pieces: [Int], into out: inout [Int]) {
        var start = 0
        for length in pieces {
            var c = Cursor(cpts: cpts, flags: flags, start: start, end: start + length)
            switch self {
            case .gpt2: c.gpt2(&out)
            case .llama3(let maxDigits): c.llama3(maxDigits: maxDigits, marks: false, &out)
            case .qwen35: c.llama3(maxDigits: 1, marks: true, &out)
            case .kimiK2: c.kimiK2(&out)
            case .digitGroups: c.digitGroups(&out)
            case .newlines: c.newlines(&out)
            }
            start += length
        }
    }
}

/// A position in one piece, with llama.cpp's conventions: outside the piece a codepoint reads as 0xFFFFFFFF and
/// its flags as 0 (no category at all, unlike an unassigned codepoint).
private struct Cursor {
    let cpts: UnsafeBufferPointer<UInt32>
    let flags: UnsafeBufferPointer<UInt16>
    let start: Int
    let end: Int
    var previousEnd: Int

    static let outOfRange: UInt32 = 0xFFFF_FFFF

    init(cpts: UnsafeBufferPointer<UInt32>, flags: UnsafeBufferPointer<UInt16>, start: Int, end: Int) {
        self.cpts = cpts
        self.flags = flags
        self.start = start
        self.end = end
        self.previousEnd = start
    }

    @inline(__always) func cpt(_ p: Int) -> UInt32 { p >= start && p < end ? cpts[p] : Self.outOfRange }
    @inline(__always) func flag(_ p: Int) -> UInt16 {
        p >= start && p < end ? UnicodeFlags.of(cpts[p], in: flags) : 0
    }

    /// Emits the piece from the previous end to `p` if it is not empty; returns its length.
    @discardableResult @inline(__always)
    mutating func emit(_ p: Int, _ out: inout [Int]) -> Int {
        let n = p - previousEnd
        if n > 0 { out.append(n) }
        previousEnd = p
        return n
    }

    /// The patterns' common tail at `pos`, `ws` whitespace long: `\s+(?!\S)` (all but the last when a non-space
    /// follows inside the piece), else `\s+`, else one character alone.
    @inline(__always)
    mutating func emitWhitespaceOrOne(_ ws: Int, at pos: inout Int, _ out: inout [Int]) {
        if ws > 1 && cpt(pos + ws) != Self.outOfRange {
            pos += ws - 1
        } else if ws > 0 {
            pos += ws
        } else {
            pos += 1
        }
        emit(pos, &out)
    }

    static let L = UnicodeFlags.letter, N = UnicodeFlags.number, W = UnicodeFlags.whitespace, M = UnicodeFlags.accentMark

    /// `'s|'t|'re|'ve|'m|'ll|'d` at `p` (case-insensitive when `folding`): the length matched, or 0.
    @inline(__always) func contraction(at p: Int, folding: Bool) -> Int {
        guard cpt(p) == 0x27, p + 1 < end else { return 0 }
        let a = folding ? UnicodeFlags.asciiLower(cpt(p + 1)) : cpt(p + 1)
        if a == 0x73 || a == 0x74 || a == 0x6D || a == 0x64 { return 2 }  // s t m d
        guard p + 2 < end else { return 0 }
        let b = folding ? UnicodeFlags.asciiLower(cpt(p + 2)) : cpt(p + 2)
        if (a == 0x72 && b == 0x65) || (a == 0x76 && b == 0x65) || (a == 0x6C && b == 0x6C) { return 3 }  // re ve ll
        return 0
    }

    /// Counts whitespace from `p`; also where the last `\r`/`\n` of that run ends (0 if none).
    @inline(__always) func whitespaceRun(_ p: Int) -> (count: Int, lastNewlineEnd: Int) {
        var n = 0
        var lastNewlineEnd = 0
        while flag(p + n) & Self.W != 0 {
            let c = cpt(p + n)
            if c == 0x0D || c == 0x0A { lastNewlineEnd = p + n + 1 }
            n += 1
        }
        return (n, lastNewlineEnd)
    }

    mutating func gpt2(_ out: inout [Int]) {
        var pos = start
        while pos < end {
            let c = cpt(pos)
            let f = flag(pos)
            let k = contraction(at: pos, folding: false)
            if k > 0 { pos += emit(pos + k, &out); continue }
            var f2 = c == 0x20 ? flag(pos + 1) : f
            if f2 & Self.L != 0 {
                if c == 0x20 { pos += 1 }
                while f2 & Self.L != 0 { pos += 1; f2 = flag(pos) }
                emit(pos, &out)
                continue
            }
            if f2 & Self.N != 0 {
                if c == 0x20 { pos += 1 }
                while f2 & Self.N != 0 { pos += 1; f2 = flag(pos) }
                emit(pos, &out)
                continue
            }
            if f2 & (Self.W | Self.L | Self.N) == 0 && f2 != 0 {
                if c == 0x20 { pos += 1 }
                while f2 & (Self.W | Self.L | Self.N) == 0 && f2 != 0 { pos += 1; f2 = flag(pos) }
                emit(pos, &out)
                continue
            }
            let ws = whitespaceRun(pos).count
            emitWhitespaceOrOne(ws, at: &pos, &out)
        }
    }

    /// Llama 3 (`maxDigits` 3), Qwen 2 (1) and Qwen 3.5 (1, with marks in letter runs).
    mutating func llama3(maxDigits: Int, marks: Bool, _ out: inout [Int]) {
        let word = marks ? Self.L | Self.M : Self.L
        let notPunct = marks ? Self.W | Self.L | Self.M | Self.N : Self.W | Self.L | Self.N
        var pos = start
        while pos < end {
            let c = cpt(pos)
            let f = flag(pos)
            let k = contraction(at: pos, folding: true)
            if k > 0 { pos += emit(pos + k, &out); continue }
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if !(c == 0x0D || c == 0x0A || f & Self.N != 0) {
                if f & word != 0 || flag(pos + 1) & word != 0 {
                    pos += 1
                    while flag(pos) & word != 0 { pos += 1 }
                    emit(pos, &out)
                    continue
                }
            }
            // \p{N}{1,maxDigits}
            if f & Self.N != 0 {
                if maxDigits == 1 {
                    pos += 1
                } else {
                    var first = pos
                    while flag(pos) & Self.N != 0 {
                        pos += 1
                        if pos - first >= maxDigits {
                            emit(pos, &out)
                            first = pos
                        }
                    }
                }
                emit(pos, &out)
                continue
            }
            // ' '?[^\s\p{L}\p{N}]+[\r\n]*  (llama.cpp tests the first character's own flags for "any category")
            var f2 = c == 0x20 ? flag(pos + 1) : f
            if f2 & notPunct == 0 && f != 0 {
                if c == 0x20 { pos += 1 }
                while f2 & notPunct == 0 && f2 != 0 { pos += 1; f2 = flag(pos) }
                var c2 = cpt(pos)
                while c2 == 0x0D || c2 == 0x0A { pos += 1; c2 = cpt(pos) }
                emit(pos, &out)
                continue
            }
            let (ws, lastNewlineEnd) = whitespaceRun(pos)
            if lastNewlineEnd > 0 {  // \s*[\r\n]+
                pos = lastNewlineEnd
                emit(pos, &out)
                continue
            }
            if ws > 1 && cpt(pos + ws) != Self.outOfRange {  // \s+(?!\S)
                pos += ws - 1
                emit(pos, &out)
                continue
            }
            if ws > 0 {  // \s+
                pos += ws
                emit(pos, &out)
                continue
            }
            pos += 1
            emit(pos, &out)
        }
    }

    @inline(__always) func isLetterNotHan(_ p: Int) -> Bool {
        flag(p) & Self.L != 0 && !UnicodeFlags.isHan(cpt(p))
    }

    mutating func kimiK2(_ out: inout [Int]) {
        var pos = start
        while pos < end {
            let c = cpt(pos)
            let f = flag(pos)
            if UnicodeFlags.isHan(c) {
                while UnicodeFlags.isHan(cpt(pos)) { pos += 1 }
                emit(pos, &out)
                continue
            }
            let leadable = !(c == 0x0D || c == 0x0A || f & Self.L != 0 || f & Self.N != 0)
            if (f & Self.L != 0 && !UnicodeFlags.isHan(c)) || (leadable && isLetterNotHan(pos + 1)) {
                var hasLead = false
                if leadable { hasLead = true; pos += 1 }
                var hasLetters = false
                while isLetterNotHan(pos) { hasLetters = true; pos += 1 }
                if hasLetters || (!hasLead && isLetterNotHan(pos)) {
                    if !hasLetters { pos += 1 }
                    while isLetterNotHan(pos) { pos += 1 }
                    if cpt(pos) == 0x27 && pos + 1 < end {
                        pos += contraction(at: pos, folding: true)
                    }
                    emit(pos, &out)
                    continue
                } else if hasLead {
                    pos -= 1
                }
            }
            if f & Self.N != 0 {
                var first = pos
                while flag(pos) & Self.N != 0 {
                    pos += 1
                    if pos - first >= 3 {
                        emit(pos, &out)
                        first = pos
                    }
                }
                emit(pos, &out)
                continue
            }
            var f2 = c == 0x20 ? flag(pos + 1) : f
            if f2 & (Self.W | Self.L | Self.N) == 0 && f2 != 0 {
                if c == 0x20 { pos += 1 }
                while f2 & (Self.W | Self.L | Self.N) == 0 && f2 != 0 { pos += 1; f2 = flag(pos) }
                var c2 = cpt(pos)
                while c2 == 0x0D || c2 == 0x0A { pos += 1; c2 = cpt(pos) }
                emit(pos, &out)
                continue
            }
            let (ws, lastNewlineEnd) = whitespaceRun(pos)
            if lastNewlineEnd > 0 {
                pos = lastNewlineEnd
                emit(pos, &out)
                continue
            }
            emitWhitespaceOrOne(ws, at: &pos, &out)
        }
    }

    mutating func digitGroups(_ out: inout [Int]) {
        var pos = start
        while pos < end {
            guard flag(pos) & Self.N != 0 else { pos += 1; continue }
            let first = pos
            while pos < end && flag(pos) & Self.N != 0 { pos += 1 }
            let count = pos - first
            var current = first
            let lead = count % 3
            if lead > 0 {
                emit(current + lead, &out)
                current += lead
            }
            while current < first + count {
                emit(current + 3, &out)
                current += 3
            }
        }
        if previousEnd < end { emit(end, &out) }
    }

    mutating func newlines(_ out: inout [Int]) {
        var pos = start
        while pos < end {
            let isNewline = cpts[pos] == 0x0A
            let runStart = pos
            while pos < end && (cpts[pos] == 0x0A) == isNewline { pos += 1 }
            out.append(pos - runStart)
        }
    }
}
