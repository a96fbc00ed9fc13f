/// How Python prints values (str() and repr()), and the character classes its string methods use. Templates print
/// lists and dicts directly (`{{ tools }}`), so these must match CPython character for character.
extension JinjaValue {
    /// Python's str(): what `{{ value }}` writes.
    var pythonString: String {
        switch self {
        case .undefined: ""
        case .string(let s), .safe(let s): s
        case .object(let o): o.pythonString
        default: repr
        }
    }

    /// Python's repr(), used inside containers.
    var repr: String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .double(let d): return JinjaNumber.repr(d)
        case .string(let s): return Python.repr(s)
        case .safe(let s): return "Markup(" + Python.repr(s) + ")"
        case .array(let a):
            var out = "["
            for (i, v) in a.enumerated() {
                if i > 0 { out += ", " }
                out += v.repr
                if out.utf8.count > JinjaOperators.maxRepeatedSize { break }  // refused by the caller's size check
            }
            return out + "]"
        case .tuple(let a):
            if a.count == 1 { return "(" + a[0].repr + ",)" }
            var out = "("
            for (i, v) in a.enumerated() {
                if i > 0 { out += ", " }
                out += v.repr
                if out.utf8.count > JinjaOperators.maxRepeatedSize { break }
            }
            return out + ")"
        case .dict(let d):
            var out = "{"
            for (i, (k, v)) in d.enumerated() {
                if i > 0 { out += ", " }
                out += JinjaKey.decode(k).repr
                out += ": "
                out += v.repr
                if out.utf8.count > JinjaOperators.maxRepeatedSize { break }
            }
            return out + "}"
        case .object(let o): return o.pythonString
        }
    }
}

enum Python {
    /// repr() of a str: single quotes unless the text has a single quote and no double quote.
    static func repr(_ s: String) -> String {
        var hasSingle = false, hasDouble = false
        for u in s.unicodeScalars {
            if u == "'" { hasSingle = true } else if u == "\"" { hasDouble = true }
        }
        let quote: Unicode.Scalar = hasSingle && !hasDouble ? "\"" : "'"
        var out = String.UnicodeScalarView()
        out.append(quote)
        for u in s.unicodeScalars {
            switch u {
            case quote, "\\":
                out.append("\\")
                out.append(u)
            case "\t": out.append(contentsOf: "\\t".unicodeScalars)
            case "\n": out.append(contentsOf: "\\n".unicodeScalars)
            case "\r": out.append(contentsOf: "\\r".unicodeScalars)
            default:
                if isPrintable(u) {
                    out.append(u)
                } else if u.value < 0x100 {
                    out.append(contentsOf: ("\\x" + hex(u.value, 2)).unicodeScalars)
                } else if u.value < 0x10000 {
                    out.append(contentsOf: ("\\u" + hex(u.value, 4)).unicodeScalars)
                } else {
                    out.append(contentsOf: ("\\U" + hex(u.value, 8)).unicodeScalars)
                }
            }
        }
        out.append(quote)
        return String(out)
    }

    static func hex(_ v: UInt32, _ width: Int) -> String {
        let h = String(v, radix: 16)
        return String(repeating: "0", count: max(0, width - h.count)) + h
    }

    /// str.isprintable() for one code point: not in Cc, Cf, Cs, Co, Cn, Zl, Zp, Zs (space excepted).
    static func isPrintable(_ u: Unicode.Scalar) -> Bool {
        if u.value >= 0x20 && u.value < 0x7F { return true }
        if u.value < 0xA0 { return false }
        switch u.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned, .lineSeparator, .paragraphSeparator,
            .spaceSeparator:
            return false
        default: return true
        }
    }

    /// str.isspace() for one code point (Python's whitespace: bidi WS, B, S or category Zs).
    static func isSpace(_ u: Unicode.Scalar) -> Bool {
        switch u.value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default: return false
        }
    }

    /// The line boundaries of str.splitlines().
    static func isLineBreak(_ u: Unicode.Scalar) -> Bool {
        switch u.value {
        case 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029: return true
        default: return false
        }
    }

    /// `\w` of Python's re (Unicode): letters, digits, underscore.
    static func isWordChar(_ u: Unicode.Scalar) -> Bool {
        if u == "_" { return true }
        let p = u.properties
        return p.isAlphabetic || p.numericType != nil
    }

    static func splitlines(_ s: String, keepends: Bool = false) -> [String] {
        var lines: [String] = []
        var current = String.UnicodeScalarView()
        let scalars = Array(s.unicodeScalars)
        var i = 0
        while i < scalars.count {
            let u = scalars[i]
            if isLineBreak(u) {
                var end = [u]
                if u == "\r" && i + 1 < scalars.count && scalars[i + 1] == "\n" {
                    end.append("\n")
                    i += 1
                }
                if keepends { current.append(contentsOf: end) }
                lines.append(String(current))
                current = String.UnicodeScalarView()
            } else {
                current.append(u)
            }
            i += 1
        }
        if !current.isEmpty { lines.append(String(current)) }
        return lines
    }

    /// str.strip/lstrip/rstrip: `chars` nil strips whitespace.
    static func strip(_ s: String, _ chars: String?, left: Bool, right: Bool) -> String {
        let set = chars.map { Set($0.unicodeScalars) }
        func drop(_ u: Unicode.Scalar) -> Bool { set.map { $0.contains(u) } ?? isSpace(u) }
        let scalars = s.unicodeScalars
        var start = scalars.startIndex, end = scalars.endIndex
        if left { while start < end && drop(scalars[start]) { start = scalars.index(after: start) } }
        if right {
            while end > start {
                let before = scalars.index(before: end)
                if !drop(scalars[before]) { break }
                end = before
            }
        }
        return String(scalars[start..<end])
    }

    /// markupsafe.escape.
    static func escapeHTML(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for u in s.unicodeScalars {
            switch u {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&#34;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(u)
            }
        }
        return out
    }

    static func lower(_ s: String) -> String { s.lowercased() }
    static func upper(_ s: String) -> String { s.uppercased() }

    /// str.capitalize(): first character upper (title) case, the rest lower.
    static func capitalize(_ s: String) -> String {
        guard let first = s.unicodeScalars.first else { return s }
        return String(first).uppercased() + String(s.unicodeScalars.dropFirst()).lowercased()
    }

    /// str.title(): a letter after a cased letter is lowered, any other letter is raised.
    static func title(_ s: String) -> String {
        var out = ""
        var previousCased = false
        for u in s.unicodeScalars {
            let p = u.properties
            if p.isCased {
                out += previousCased ? String(u).lowercased() : String(u).uppercased()
                previousCased = true
            } else {
                out.unicodeScalars.append(u)
                previousCased = false
            }
        }
        return out
    }

    /// str.islower()/isupper(): some cased character, and none of the other case.
    static func isLower(_ s: String) -> Bool {
        var cased = false
        for u in s.unicodeScalars {
            if u.properties.isUppercase || (u.properties.generalCategory == .titlecaseLetter) { return false }
            if u.properties.isLowercase { cased = true }
        }
        return cased
    }

    static func isUpper(_ s: String) -> Bool {
        var cased = false
        for u in s.unicodeScalars {
            if u.properties.isLowercase || (u.properties.generalCategory == .titlecaseLetter) { return false }
            if u.properties.isUppercase { cased = true }
        }
        return cased
    }
}
