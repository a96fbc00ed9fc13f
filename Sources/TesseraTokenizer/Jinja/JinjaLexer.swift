/// Splits a template into text and tags, and tag contents into tokens. Block tags follow transformers' settings
/// (`trim_blocks` and `lstrip_blocks`), and `-` inside a tag strips the whitespace beside it.
enum JinjaLexer {
    enum Segment: Equatable {
        case text(String)
        case output([Token])
        case statement([Token])
    }

    enum Token: Equatable {
        case name(String)
        case string(String)
        case int(Int)
        case double(Double)
        case op(String)
    }

    static func segments(_ template: String) throws(TokenizerError) -> [Segment] {
        let s = Array(template)
        var out: [Segment] = []
        var text = ""
        var i = 0
        var stripNextWhitespace = false
        var trimNextNewline = false
        func flushText() {
            if !text.isEmpty { out.append(.text(text)) }
            text = ""
        }
        while i < s.count {
            if s[i] == "{", i + 1 < s.count, "{%#".contains(s[i + 1]) {
                let kind = s[i + 1]
                let close: Character = kind == "{" ? "}" : kind == "%" ? "%" : "#"
                var j = i + 2
                let stripBefore = j < s.count && s[j] == "-"
                if stripBefore || (j < s.count && s[j] == "+") { j += 1 }
                if stripBefore {
                    while let last = text.last, last.isWhitespace { text.removeLast() }
                } else if kind == "%" || kind == "#" {
                    // lstrip_blocks: spaces and tabs between the line start and a block tag go.
                    let tail = text.reversed().prefix { $0 == " " || $0 == "\t" }
                    let before = text.dropLast(tail.count)
                    if before.isEmpty && out.isEmpty || before.last == "\n" { text.removeLast(tail.count) }
                }
                var end = j
                var found = false
                var quote: Character?
                while end + 1 < s.count {
                    if let q = quote {
                        if s[end] == "\\" { end += 2; continue }
                        if s[end] == q { quote = nil }
                    } else if kind != "#" && (s[end] == "'" || s[end] == "\"") {
                        quote = s[end]
                    } else if s[end] == close && s[end + 1] == "}" {
                        found = true
                        break
                    }
                    end += 1
                }
                guard found else { throw TokenizerError("chat template: unclosed tag starting at character \(i)") }
                var bodyEnd = end
                let stripAfter = bodyEnd > j && s[bodyEnd - 1] == "-"
                if stripAfter || (bodyEnd > j && s[bodyEnd - 1] == "+") { bodyEnd -= 1 }
                let body = String(s[j..<max(j, bodyEnd)])
                flushText()
                if kind == "{" { out.append(.output(try tokens(body))) }
                if kind == "%" { out.append(.statement(try tokens(body))) }
                i = end + 2
                stripNextWhitespace = stripAfter
                trimNextNewline = kind != "{"
                continue
            }
            if stripNextWhitespace {
                if s[i].isWhitespace { i += 1; continue }
                stripNextWhitespace = false
            }
            if trimNextNewline {
                trimNextNewline = false
                if s[i] == "\n" { i += 1; continue }
            }
            text.append(s[i])
            i += 1
        }
        flushText()
        return out
    }

    static let operators = ["==", "!=", "<=", ">=", "//", "**", "+", "-", "*", "/", "%", "~", "<", ">", "(", ")", "[", "]",
                            "{", "}", ".", ",", ":", "|", "="]

    static func tokens(_ body: String) throws(TokenizerError) -> [Token] {
        let s = Array(body)
        var out: [Token] = []
        var i = 0
        while i < s.count {
            let c = s[i]
            if c.isWhitespace { i += 1; continue }
            if c.isLetter || c == "_" {
                var j = i
                while j < s.count && (s[j].isLetter || s[j].isNumber || s[j] == "_") { j += 1 }
                out.append(.name(String(s[i..<j])))
                i = j
                continue
            }
            if c.isASCII && c.isNumber {
                var j = i
                while j < s.count && s[j].isASCII && s[j].isNumber { j += 1 }
                if j + 1 < s.count && s[j] == "." && s[j + 1].isNumber {
                    j += 1
                    while j < s.count && s[j].isASCII && s[j].isNumber { j += 1 }
                    out.append(.double(Double(String(s[i..<j]))!))
                } else {
                    guard let v = Int(String(s[i..<j])) else { throw TokenizerError("chat template: number '\(String(s[i..<j]))' is too large") }
                    out.append(.int(v))
                }
                i = j
                continue
            }
            if c == "'" || c == "\"" {
                var j = i + 1
                var str = ""
                while j < s.count && s[j] != c {
                    if s[j] == "\\" && j + 1 < s.count {
                        j += 1
                        switch s[j] {
                        case "n": str.append("\n")
                        case "t": str.append("\t")
                        case "r": str.append("\r")
                        default: str.append(s[j])
                        }
                    } else {
                        str.append(s[j])
                    }
                    j += 1
                }
                guard j < s.count else { throw TokenizerError("chat template: unterminated string in '\(body)'") }
                out.append(.string(str))
                i = j + 1
                continue
            }
            guard let op = operators.first(where: { op in
                i + op.count <= s.count && String(s[i..<i + op.count]) == op
            }) else {
                throw TokenizerError("chat template: unexpected character '\(c)' in '\(body)'")
            }
            out.append(.op(op))
            i += op.count
        }
        return out
    }
}
