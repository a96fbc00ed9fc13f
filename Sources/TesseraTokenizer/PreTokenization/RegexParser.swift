/// The part of ECMAScript regex syntax llama.cpp's pre-tokenizer regexes use, read as libstdc++'s `std::regex`
/// (ECMAScript grammar) reads it: `\s` `\d` `\w` are ASCII-only classes (the "C" locale), unknown escapes are the
/// character itself, `\b` inside a class is a backspace. Patterns are sequences of code units: bytes for the
/// collapsed form (see `RegexStage`), codepoints for the wide form.
struct RegexParser {
    indirect enum Node {
        case set(CharSet)
        case concat([Node])
        case alternation([Node])
        case repetition(Node, min: Int, max: Int?, greedy: Bool)
        case lookahead(Node, negated: Bool)
        case endOfInput
    }

    struct Failure: Error {
        let message: String
    }

    private let p: [UInt32]
    private var i = 0

    static func parse(_ pattern: [UInt32]) throws(Failure) -> Node {
        var parser = RegexParser(p: pattern)
        let node = try parser.alternation()
        guard parser.i == pattern.count else { throw Failure(message: "unbalanced ')' at \(parser.i)") }
        return node
    }

    private init(p: [UInt32]) { self.p = p }

    private var atEnd: Bool { i >= p.count }
    private func peek(_ k: Int = 0) -> UInt32? { i + k < p.count ? p[i + k] : nil }

    private mutating func alternation() throws(Failure) -> Node {
        var branches = [try sequence()]
        while peek() == 0x7C {  // |
            i += 1
            branches.append(try sequence())
        }
        return branches.count == 1 ? branches[0] : .alternation(branches)
    }

    private mutating func sequence() throws(Failure) -> Node {
        var items: [Node] = []
        while let c = peek(), c != 0x7C, c != 0x29 {  // | )
            var atom = try self.atom()
            atom = try quantified(atom)
            items.append(atom)
        }
        return items.count == 1 ? items[0] : .concat(items)
    }

    private mutating func quantified(_ atom: Node) throws(Failure) -> Node {
        var node = atom
        while let c = peek() {
            var minCount = 0
            var maxCount: Int?
            switch c {
            case 0x2A: i += 1; minCount = 0; maxCount = nil  // *
            case 0x2B: i += 1; minCount = 1; maxCount = nil  // +
            case 0x3F: i += 1; minCount = 0; maxCount = 1  // ?
            case 0x7B:  // {
                guard let (lo, hi, length) = braces() else { throw Failure(message: "bad {…} at \(i)") }
                i += length
                minCount = lo
                maxCount = hi
            default:
                return node
            }
            if case .lookahead = node { throw Failure(message: "quantified lookahead") }
            if case .endOfInput = node { throw Failure(message: "quantified $") }
            var greedy = true
            if peek() == 0x3F { i += 1; greedy = false }
            if let hi = maxCount, hi < minCount { throw Failure(message: "bad range {\(minCount),\(hi)}") }
            guard minCount <= 1024, (maxCount ?? 0) <= 1024 else { throw Failure(message: "repetition too large") }
            node = .repetition(node, min: minCount, max: maxCount, greedy: greedy)
        }
        return node
    }

    /// `{n}`, `{n,}` or `{n,m}` at the cursor: the bounds and the length of the text.
    private func braces() -> (Int, Int?, Int)? {
        var k = i + 1
        func number() -> Int? {
            var v = 0
            var digits = 0
            while k < p.count, (0x30...0x39).contains(p[k]), digits < 6 {
                v = v * 10 + Int(p[k] - 0x30)
                k += 1
                digits += 1
            }
            return digits > 0 ? v : nil
        }
        guard let lo = number() else { return nil }
        var hi: Int? = lo
        if k < p.count && p[k] == 0x2C {  // ,
            k += 1
            hi = number()
        }
        guard k < p.count && p[k] == 0x7D else { return nil }
        return (lo, hi, k + 1 - i)
    }

    private mutating func atom() throws(Failure) -> Node {
        guard let c = peek() else { throw Failure(message: "unexpected end") }
        switch c {
        case 0x28:  // (
            i += 1
            var lookahead: Bool?
            if peek() == 0x3F {  // ?
                switch peek(1) {
                case 0x3A: i += 2  // (?:
                case 0x3D: i += 2; lookahead = false  // (?=
                case 0x21: i += 2; lookahead = true  // (?!
                default: throw Failure(message: "unsupported group syntax at \(i)")
                }
            }
            let inner = try alternation()
            guard peek() == 0x29 else { throw Failure(message: "missing ')'") }
            i += 1
            if let negated = lookahead { return .lookahead(inner, negated: negated) }
            return inner
        case 0x5B:  // [
            i += 1
            return .set(try bracket())
        case 0x2E:  // . : anything but ECMAScript's line terminators
            i += 1
            var s = CharSet()
            s.add(0x0A...0x0A); s.add(0x0D...0x0D); s.add(0x2028...0x2029)
            s.negated = true
            return .set(s)
        case 0x24:  // $
            i += 1
            return .endOfInput
        case 0x5E:
            throw Failure(message: "'^' is not supported")
        case 0x5C:  // backslash
            i += 1
            guard let e = peek() else { throw Failure(message: "trailing backslash") }
            i += 1
            if let cls = CharSet.escapeClass(e) { return .set(cls) }
            if e == 0x62 || e == 0x42 { throw Failure(message: "\\b and \\B are not supported") }
            if (0x31...0x39).contains(e) { throw Failure(message: "back-references are not supported") }
            return .set(CharSet(single: try escapedCharacter(e, inBracket: false)))
        case 0x29, 0x7C:
            throw Failure(message: "empty atom at \(i)")
        case 0x2A, 0x2B, 0x3F:
            throw Failure(message: "nothing to repeat at \(i)")
        default:
            i += 1
            return .set(CharSet(single: c))
        }
    }

    /// The character an escape (after the backslash) stands for; `\d`-style classes are handled by the caller.
    private mutating func escapedCharacter(_ e: UInt32, inBracket: Bool) throws(Failure) -> UInt32 {
        switch e {
        case 0x30: return 0  // \0
        case 0x62 where inBracket: return 0x08  // \b in a class: backspace
        case 0x66: return 0x0C  // f
        case 0x6E: return 0x0A  // n
        case 0x72: return 0x0D  // r
        case 0x74: return 0x09  // t
        case 0x76: return 0x0B  // v
        case 0x63:  // \cX
            guard let x = peek(), (0x41...0x5A).contains(x) || (0x61...0x7A).contains(x) else {
                throw Failure(message: "bad \\c escape")
            }
            i += 1
            return x % 32
        case 0x78, 0x75:  // \xHH, \uHHHH
            let n = e == 0x78 ? 2 : 4
            var v: UInt32 = 0
            for _ in 0..<n {
                guard let h = peek(), let d = Self.hexValue(h) else { throw Failure(message: "bad hex escape") }
                v = v * 16 + d
                i += 1
            }
            return v
        default:
            return e
        }
    }

    private static func hexValue(_ h: UInt32) -> UInt32? {
        switch h {
        case 0x30...0x39: return h - 0x30
        case 0x41...0x46: return h - 0x41 + 10
        case 0x61...0x66: return h - 0x61 + 10
        default: return nil
        }
    }

    /// A bracket expression after its `[`.
    private mutating func bracket() throws(Failure) -> CharSet {
        var set = CharSet()
        if peek() == 0x5E { i += 1; set.negated = true }
        while true {
            guard let c = peek() else { throw Failure(message: "missing ']'") }
            if c == 0x5D { i += 1; return set }  // ]
            // One class item: a character (possibly escaped), or an escape class.
            var low: UInt32
            if c == 0x5C {
                i += 1
                guard let e = peek() else { throw Failure(message: "trailing backslash") }
                i += 1
                if let cls = CharSet.escapeClass(e) {
                    set.merge(cls)
                    continue
                }
                if (0x31...0x39).contains(e) { throw Failure(message: "back-references are not supported") }
                low = try escapedCharacter(e, inBracket: true)
            } else {
                i += 1
                low = c
            }
            // A range when an unescaped '-' follows and is not the last item.
            if peek() == 0x2D, let after = peek(1), after != 0x5D {
                i += 1
                var high: UInt32
                if after == 0x5C {
                    i += 1
                    guard let e = peek() else { throw Failure(message: "trailing backslash") }
                    i += 1
                    if CharSet.escapeClass(e) != nil { throw Failure(message: "class as a range end") }
                    high = try escapedCharacter(e, inBracket: true)
                } else {
                    i += 1
                    high = after
                }
                guard low <= high else { throw Failure(message: "range out of order") }
                set.add(low...high)
            } else {
                set.add(low...low)
            }
        }
    }
}

/// A set of code units: ranges, plus "everything outside" an ASCII class (`\S` inside a bracket), possibly negated.
struct CharSet: Sendable {
    /// Membership of 0..<256, fixed when the set is finished.
    var ranges: [ClosedRange<UInt32>] = []
    /// ASCII classes whose complement belongs to the set (`[\S]`, `[\D]`).
    var complementedClasses: [[ClosedRange<UInt32>]] = []
    var negated = false

    init() {}
    init(single c: UInt32) { ranges = [c...c] }

    mutating func add(_ r: ClosedRange<UInt32>) { ranges.append(r) }

    mutating func merge(_ other: CharSet) {
        if other.negated {
            complementedClasses.append(other.ranges)
        } else {
            ranges.append(contentsOf: other.ranges)
        }
    }

    /// `\d \D \s \S \w \W` as libstdc++ has them in the "C" locale: ASCII only, for bytes and wide characters alike.
    static func escapeClass(_ e: UInt32) -> CharSet? {
        var s = CharSet()
        switch e {
        case 0x64, 0x44: s.ranges = [0x30...0x39]
        case 0x73, 0x53: s.ranges = [0x09...0x0D, 0x20...0x20]
        case 0x77, 0x57: s.ranges = [0x30...0x39, 0x41...0x5A, 0x5F...0x5F, 0x61...0x7A]
        default: return nil
        }
        s.negated = e == 0x44 || e == 0x53 || e == 0x57
        return s
    }

    func contains(_ c: UInt32) -> Bool {
        var m = false
        for r in ranges where r.contains(c) { m = true; break }
        if !m {
            for cls in complementedClasses where !cls.contains(where: { $0.contains(c) }) { m = true; break }
        }
        return m != negated
    }
}
