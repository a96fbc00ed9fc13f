/// Splits a template into tokens exactly as jinja2's lexer does with transformers' settings: `trim_blocks` (the
/// newline after a block or comment tag goes), `lstrip_blocks` (spaces before a block or comment tag at a line start
/// go), `-` strips all whitespace on its side, `+` keeps it, newlines normalized to `\n`, one trailing newline of
/// the source dropped (`keep_trailing_newline=False`), `{% raw %}` copied verbatim.
struct JinjaToken {
    enum Kind: Equatable {
        case data(String)
        case variableBegin, variableEnd, blockBegin, blockEnd
        case name(String)
        case string(String)
        case int(Int)
        case float(Double)
        case op(String)
        case end
    }

    let kind: Kind
    let line: Int
}

struct JinjaLexer {
    typealias Scalars = [Unicode.Scalar]
    private let s: Scalars
    private var pos = 0
    private var line = 1
    private var lineStarting = true
    private(set) var tokens: [JinjaToken] = []

    static func tokenize(_ source: String) throws(TokenizerError) -> [JinjaToken] {
        var lexer = JinjaLexer(normalize(source))
        try lexer.run()
        lexer.tokens.append(JinjaToken(kind: .end, line: lexer.line))
        return lexer.tokens
    }

    private init(_ s: Scalars) { self.s = s }

    /// `\r\n` and `\r` become `\n`; one trailing newline goes.
    static func normalize(_ source: String) -> Scalars {
        var out: Scalars = []
        out.reserveCapacity(source.unicodeScalars.count)
        var previousCR = false
        for u in source.unicodeScalars {
            if u == "\r" {
                out.append("\n")
                previousCR = true
                continue
            }
            if u == "\n" && previousCR {
                previousCR = false
                continue
            }
            previousCR = false
            out.append(u)
        }
        if out.last == "\n" { out.removeLast() }
        return out
    }

    private func error(_ message: String, line: Int? = nil) -> TokenizerError {
        TokenizerError("chat template: \(message) (line \(line ?? self.line))")
    }

    private func at(_ i: Int, _ text: String) -> Bool {
        var k = i
        for u in text.unicodeScalars {
            guard k < s.count, s[k] == u else { return false }
            k += 1
        }
        return true
    }

    private mutating func emit(_ kind: JinjaToken.Kind, line: Int? = nil) {
        tokens.append(JinjaToken(kind: kind, line: line ?? self.line))
    }

    private func countNewlines(_ from: Int, _ to: Int) -> Int {
        var n = 0
        for k in from..<max(from, to) where s[k] == "\n" { n += 1 }
        return n
    }

    /// Consumes `s[pos..<to]`, keeping the line count.
    private mutating func advance(to: Int) {
        line += countNewlines(pos, to)
        if to > pos { lineStarting = s[to - 1] == "\n" }
        pos = to
    }

    /// The text before a tag, after the tag's whitespace control.
    private func controlled(_ text: ArraySlice<Unicode.Scalar>, sign: Unicode.Scalar?, lstrip: Bool) -> ArraySlice<Unicode.Scalar> {
        if sign == "-" {
            var end = text.endIndex
            while end > text.startIndex && Python.isSpace(text[end - 1]) { end -= 1 }
            return text[text.startIndex..<end]
        }
        if sign != "+" && lstrip {
            let lineStart = (text.lastIndex(of: "\n").map { $0 + 1 }) ?? text.startIndex
            if lineStart > text.startIndex || lineStarting {
                let rest = text[lineStart...]
                if !rest.isEmpty && rest.allSatisfy(Python.isSpace) { return text[text.startIndex..<lineStart] }
            }
        }
        return text
    }

    private mutating func run() throws(TokenizerError) {
        while pos < s.count {
            // Find the next tag opener.
            var k = pos
            var found = false
            while k + 1 < s.count {
                if s[k] == "{" && (s[k + 1] == "{" || s[k + 1] == "%" || s[k + 1] == "#") { found = true; break }
                k += 1
            }
            guard found else {
                emit(.data(String(String.UnicodeScalarView(s[pos...]))))
                advance(to: s.count)
                return
            }
            let kind = s[k + 1]
            var after = k + 2
            let sign: Unicode.Scalar? = after < s.count && (s[after] == "-" || s[after] == "+") ? s[after] : nil
            if sign != nil { after += 1 }
            let raw = kind == "%" ? rawBegin(after) : nil
            let text = controlled(s[pos..<k], sign: sign, lstrip: kind != "{")
            let textLine = line
            if !text.isEmpty { emit(.data(String(String.UnicodeScalarView(text))), line: textLine) }
            line += countNewlines(pos, k)
            lineStarting = false
            pos = after
            if let raw {
                advance(to: raw)
                try lexRaw()
                continue
            }
            switch kind {
            case "#": try lexComment()
            case "%":
                emit(.blockBegin)
                try lexExpression(block: true)
            default:
                emit(.variableBegin)
                try lexExpression(block: false)
            }
        }
    }

    /// `{%(-|+)? raw (-%}\s*|%})` starting after the sign: the position after it, or nil.
    private func rawBegin(_ i: Int) -> Int? {
        var k = i
        while k < s.count && Python.isSpace(s[k]) { k += 1 }
        guard at(k, "raw") else { return nil }
        k += 3
        while k < s.count && Python.isSpace(s[k]) { k += 1 }
        if at(k, "-%}") {
            k += 3
            while k < s.count && Python.isSpace(s[k]) { k += 1 }
            return k
        }
        return at(k, "%}") ? k + 2 : nil
    }

    /// The end of a block or comment tag at `i` (`+%}`, `-%}` and the whitespace after, `%}` and one newline).
    private func tagEnd(_ i: Int, _ close: Unicode.Scalar) -> Int? {
        let c = String(close)
        if at(i, "+" + c + "}") { return i + 3 }
        if at(i, "-" + c + "}") {
            var k = i + 3
            while k < s.count && Python.isSpace(s[k]) { k += 1 }
            return k
        }
        if at(i, c + "}") { return i + 2 < s.count && s[i + 2] == "\n" ? i + 3 : i + 2 }
        return nil
    }

    private mutating func lexComment() throws(TokenizerError) {
        let startLine = line
        var k = pos
        while k < s.count {
            if let end = tagEnd(k, "#") {
                advance(to: end)
                return
            }
            k += 1
        }
        throw error("missing end of comment tag", line: startLine)
    }

    private mutating func lexRaw() throws(TokenizerError) {
        let startLine = line
        var k = pos
        while k + 1 < s.count {
            if s[k] == "{" && s[k + 1] == "%" {
                var j = k + 2
                let sign: Unicode.Scalar? = j < s.count && (s[j] == "-" || s[j] == "+") ? s[j] : nil
                if sign != nil { j += 1 }
                while j < s.count && Python.isSpace(s[j]) { j += 1 }
                if at(j, "endraw") {
                    j += 6
                    while j < s.count && Python.isSpace(s[j]) { j += 1 }
                    if let end = tagEnd(j, "%") {
                        let text = controlled(s[pos..<k], sign: sign, lstrip: true)
                        if !text.isEmpty { emit(.data(String(String.UnicodeScalarView(text)))) }
                        advance(to: end)
                        return
                    }
                }
            }
            k += 1
        }
        throw error("missing end of raw directive", line: startLine)
    }

    private static let operators: [String] = [
        "//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[", "]", "(", ")", "{", "}", ">", "<",
        "=", ".", ":", "|", ",", ";",
    ]

    private mutating func lexExpression(block: Bool) throws(TokenizerError) {
        var balance: [Unicode.Scalar] = []
        let startLine = line
        while true {
            guard pos < s.count else { throw error(block ? "unclosed block tag ('%}' missing)" : "unclosed tag ('}}' missing)", line: startLine) }
            if balance.isEmpty {
                if block, let end = tagEnd(pos, "%") {
                    emit(.blockEnd)
                    advance(to: end)
                    return
                }
                if !block {
                    if at(pos, "-}}") {
                        emit(.variableEnd)
                        var k = pos + 3
                        while k < s.count && Python.isSpace(s[k]) { k += 1 }
                        advance(to: k)
                        return
                    }
                    if at(pos, "}}") {
                        emit(.variableEnd)
                        advance(to: pos + 2)
                        return
                    }
                }
            }
            let u = s[pos]
            if Python.isSpace(u) {
                var k = pos
                while k < s.count && Python.isSpace(s[k]) { k += 1 }
                advance(to: k)
                continue
            }
            if let (token, end) = try number(pos) {
                emit(token)
                advance(to: end)
                continue
            }
            if u == "_" || u.properties.isAlphabetic {
                var k = pos + 1
                while k < s.count && (s[k] == "_" || s[k].properties.isAlphabetic || s[k].properties.numericType != nil) { k += 1 }
                emit(.name(String(String.UnicodeScalarView(s[pos..<k]))))
                advance(to: k)
                continue
            }
            if u == "'" || u == "\"" {
                let (value, end) = try string(pos)
                emit(.string(value))
                advance(to: end)
                continue
            }
            guard let op = Self.operators.first(where: { at(pos, $0) }) else {
                throw error("unexpected character '\(u)'")
            }
            switch op {
            case "{": balance.append("}")
            case "(": balance.append(")")
            case "[": balance.append("]")
            case "}", ")", "]":
                guard let expected = balance.popLast() else { throw error("unexpected '\(op)'") }
                guard String(expected) == op else { throw error("unexpected '\(op)', expected '\(expected)'") }
            default: break
            }
            emit(.op(op))
            advance(to: pos + op.unicodeScalars.count)
        }
    }

    private func isDigit(_ k: Int) -> Bool { k < s.count && s[k].value >= 0x30 && s[k].value <= 0x39 }

    /// `(\d+_)*\d+` at k: the end, or nil.
    private func digitRun(_ k: Int) -> Int? {
        guard isDigit(k) else { return nil }
        var j = k
        while true {
            while isDigit(j) { j += 1 }
            if j < s.count && s[j] == "_" && isDigit(j + 1) { j += 1; continue }
            return j
        }
    }

    /// jinja2's float_re, then integer_re.
    private func number(_ k: Int) throws(TokenizerError) -> (JinjaToken.Kind, Int)? {
        guard isDigit(k) else { return nil }
        if k == 0 || s[k - 1] != "." , let intEnd = digitRun(k) {
            var j = intEnd
            var isFloat = false
            if j < s.count && s[j] == ".", let fracEnd = digitRun(j + 1) {
                j = fracEnd
                isFloat = true
            }
            if j < s.count && (s[j] == "e" || s[j] == "E") {
                var e = j + 1
                if e < s.count && (s[e] == "+" || s[e] == "-") { e += 1 }
                if let expEnd = digitRun(e) {
                    j = expEnd
                    isFloat = true
                } else if !isFloat {
                    j = intEnd
                }
            }
            if isFloat {
                let text = String(String.UnicodeScalarView(s[k..<j].filter { $0 != "_" }))
                guard let d = Double(text) else { throw error("invalid number \(text)") }
                return (.float(d), j)
            }
        }
        // Integers: 0b, 0o, 0x, decimal.
        if s[k] == "0" && k + 1 < s.count, let radix = ["b": 2, "B": 2, "o": 8, "O": 8, "x": 16, "X": 16][Character(s[k + 1])] {
            var j = k + 2
            var digits = ""
            while j < s.count {
                if s[j] == "_" && j + 1 < s.count && Int(String(s[j + 1]), radix: radix) != nil { j += 1; continue }
                guard Int(String(s[j]), radix: radix) != nil else { break }
                digits.unicodeScalars.append(s[j])
                j += 1
            }
            if !digits.isEmpty {
                guard let v = Int(digits, radix: radix) else { throw error("integer literal too large") }
                return (.int(v), j)
            }
        }
        let end = digitRun(k) ?? k + 1
        let text = String(String.UnicodeScalarView(s[k..<end].filter { $0 != "_" }))
        guard let v = Int(text) else { throw error("integer literal \(text) too large") }
        return (.int(v), end)
    }

    /// A string literal at k, its escapes decoded as Python's unicode-escape codec does.
    private func string(_ k: Int) throws(TokenizerError) -> (String, Int) {
        let quote = s[k]
        var j = k + 1
        var out = String.UnicodeScalarView()
        while true {
            guard j < s.count else { throw error("unterminated string") }
            let u = s[j]
            if u == quote { return (String(out), j + 1) }
            if u != "\\" {
                out.append(u)
                j += 1
                continue
            }
            guard j + 1 < s.count else { throw error("unterminated string") }
            let e = s[j + 1]
            j += 2
            switch e {
            case "\n": break
            case "\\", "'", "\"": out.append(e)
            case "a": out.append("\u{07}")
            case "b": out.append("\u{08}")
            case "f": out.append("\u{0C}")
            case "n": out.append("\n")
            case "r": out.append("\r")
            case "t": out.append("\t")
            case "v": out.append("\u{0B}")
            case "0"..."7":
                var v = e.value - 0x30
                var n = 1
                while n < 3 && j < s.count && s[j].value >= 0x30 && s[j].value <= 0x37 {
                    v = v * 8 + s[j].value - 0x30
                    j += 1
                    n += 1
                }
                out.append(Unicode.Scalar(v) ?? "\u{FFFD}")
            case "x", "u", "U":
                let width = e == "x" ? 2 : e == "u" ? 4 : 8
                guard j + width <= s.count, let v = UInt32(String(String.UnicodeScalarView(s[j..<(j + width)])), radix: 16) else {
                    throw error("truncated \\\(e) escape in a string")
                }
                j += width
                guard let scalar = Unicode.Scalar(v) else {
                    if v > 0x10FFFF { throw error("illegal Unicode character in a string") }
                    out.append("\u{FFFD}")  // a lone surrogate has no Swift form
                    continue
                }
                out.append(scalar)
            case "N": throw error("\\N{...} escapes are not supported")
            default:
                out.append("\\")
                out.append(e)
            }
        }
    }
}
