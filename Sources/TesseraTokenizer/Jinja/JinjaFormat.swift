import Foundation

/// Python's two string formatting languages: `'%s' % x` (printf style, also the `format` filter) and
/// `'{}'.format(x)`. Numbers go through C's printf, which CPython's float formatting matches digit for digit.
enum JinjaFormat {
    struct Spec {
        var fill: Unicode.Scalar = " "
        var align: Unicode.Scalar?
        var sign: Unicode.Scalar = "-"
        var alternate = false
        var zero = false
        var width = 0
        var grouping: Unicode.Scalar?
        var precision: Int?
        var type: Unicode.Scalar?
    }

    // MARK: printf style

    static func percent(_ format: String, _ values: JinjaValue, escapeArguments: Bool = false) throws(TokenizerError) -> String {
        let f = Array(format.unicodeScalars)
        var positional: [JinjaValue]
        var mapping: JinjaValue?
        // CPython treats any non-tuple, non-str argument with __getitem__ as a mapping: unused, it is no error.
        var mappingLike = false
        switch values {
        case .tuple(let items): positional = items
        case .dict: positional = [values]; mapping = values; mappingLike = true
        case .array, .undefined: positional = [values]; mappingLike = true
        case .object(let o) where (o as? JinjaSequence)?.kind.indexable == true: positional = [values]; mappingLike = true
        default: positional = [values]
        }
        var next = 0
        var out = ""
        var i = 0
        func arg(_ key: String?) throws(TokenizerError) -> JinjaValue {
            if let key {
                guard let m = mapping else { throw TokenizerError("chat template: format requires a mapping") }
                guard let v = m.lookup(key) else { throw TokenizerError("chat template: format key '\(key)' is missing") }
                return v
            }
            guard next < positional.count else { throw TokenizerError("chat template: not enough arguments for format string") }
            next += 1
            return positional[next - 1]
        }
        while i < f.count {
            let u = f[i]
            if u != "%" {
                out.unicodeScalars.append(u)
                i += 1
                continue
            }
            i += 1
            guard i < f.count else { throw TokenizerError("chat template: incomplete format") }
            var key: String?
            if f[i] == "(" {
                var depth = 1
                var j = i + 1
                while j < f.count && depth > 0 {
                    if f[j] == "(" { depth += 1 } else if f[j] == ")" { depth -= 1 }
                    j += 1
                }
                guard depth == 0 else { throw TokenizerError("chat template: incomplete format key") }
                key = String(String.UnicodeScalarView(f[(i + 1)..<(j - 1)]))
                i = j
            }
            var spec = Spec()
            var leftAlign = false
            while i < f.count, "-+ #0".unicodeScalars.contains(f[i]) {
                switch f[i] {
                case "-": leftAlign = true
                case "+": spec.sign = "+"
                case " ": if spec.sign != "+" { spec.sign = " " }
                case "#": spec.alternate = true
                default: spec.zero = true
                }
                i += 1
            }
            if i < f.count && f[i] == "*" {
                spec.width = min(JinjaAccess.intIndex(try arg(nil)) ?? 0, 100_000)
                i += 1
            } else {
                while i < f.count, let d = f[i].properties.numericType == .decimal ? Int(String(f[i])) : nil {
                    spec.width = min(spec.width * 10 + d, 100_000)
                    i += 1
                }
            }
            if i < f.count && f[i] == "." {
                i += 1
                var p = 0
                if i < f.count && f[i] == "*" {
                    p = min(JinjaAccess.intIndex(try arg(nil)) ?? 0, 1000)
                    i += 1
                } else {
                    while i < f.count, let d = f[i].properties.numericType == .decimal ? Int(String(f[i])) : nil {
                        p = min(p * 10 + d, 1000)
                        i += 1
                    }
                }
                spec.precision = p
            }
            while i < f.count && "hlL".unicodeScalars.contains(f[i]) { i += 1 }
            guard i < f.count else { throw TokenizerError("chat template: incomplete format") }
            let type = f[i]
            i += 1
            if type == "%" {
                out += "%"
                continue
            }
            let v = try arg(key)
            var text: String
            switch type {
            case "s": text = v.pythonString
            case "r", "a": text = v.repr
            case "c":
                if let n = JinjaAccess.intIndex(v), let s = Unicode.Scalar(UInt32(clamping: max(0, n))) { text = String(s) } else { text = v.pythonString }
            case "d", "i", "u", "x", "X", "o", "e", "E", "f", "F", "g", "G":
                guard let n = v.numeric else {
                    throw TokenizerError("chat template: %\(type) format: a number is required, not \(v.typeName)")
                }
                spec.type = type
                text = try number(n, spec, percentStyle: true)
            default:
                throw TokenizerError("chat template: unsupported format character '\(type)'")
            }
            if type == "s" || type == "r" || type == "a" || type == "c" {
                if let p = spec.precision { text = String(String.UnicodeScalarView(text.unicodeScalars.prefix(p))) }
                if escapeArguments && !v.isSafe { text = Python.escapeHTML(text) }
            }
            let n = text.unicodeScalars.count
            if spec.width > n {
                let padCount = spec.width - n
                if leftAlign {
                    text += String(repeating: " ", count: padCount)
                } else if spec.zero && type != "s" && type != "r" && type != "c" {
                    let signed = text.hasPrefix("-") || text.hasPrefix("+") || text.hasPrefix(" ")
                    let head = signed ? String(text.prefix(1)) : ""
                    text = head + String(repeating: "0", count: padCount) + (signed ? String(text.dropFirst()) : text)
                } else {
                    text = String(repeating: " ", count: padCount) + text
                }
            }
            out += text
        }
        if !mappingLike && next < positional.count {
            throw TokenizerError("chat template: not all arguments converted during string formatting")
        }
        return out
    }

    /// A number under a printf-style or format-spec type (`d x o e f g`), sign included.
    static func number(_ n: JinjaNumber.Num, _ spec: Spec, percentStyle: Bool) throws(TokenizerError) -> String {
        let type = spec.type ?? "d"
        var body: String
        var negative = false
        switch type {
        case "d", "i", "u", "x", "X", "o", "b", "c", "n":
            var i: Int
            switch n {
            case .int(let v): i = v
            case .double(let d):
                guard percentStyle else { throw TokenizerError("chat template: unknown format code '\(type)' for float") }
                guard d.isFinite, abs(d) < 9.2e18 else { throw TokenizerError("chat template: cannot convert float to integer") }
                i = Int(d)
            }
            negative = i < 0
            let magnitude = i.magnitude
            switch type {
            case "x": body = String(magnitude, radix: 16)
            case "X": body = String(magnitude, radix: 16).uppercased()
            case "o": body = String(magnitude, radix: 8)
            case "b": body = String(magnitude, radix: 2)
            case "c": body = Unicode.Scalar(UInt32(clamping: magnitude)).map { String($0) } ?? ""
            default: body = String(magnitude)
            }
            if spec.alternate {
                switch type {
                case "x": body = "0x" + body
                case "X": body = "0X" + body
                case "o": body = "0o" + body
                case "b": body = "0b" + body
                default: break
                }
            }
            if let g = spec.grouping, type == "d" || type == "n" { body = group(body, String(g), 3) }
        case "e", "E", "f", "F", "g", "G", "%":
            let d = n.double
            negative = d < 0 || (d == 0 && d.sign == .minus)
            let magnitude = Swift.abs(d)
            if magnitude.isNaN {
                body = type.properties.isUppercase ? "NAN" : "nan"
            } else if magnitude.isInfinite {
                body = type.properties.isUppercase ? "INF" : "inf"
            } else {
                let p = spec.precision ?? 6
                var t = type
                if t == "%" { t = "f" }
                let scaled = type == "%" ? magnitude * 100 : magnitude
                let flag = spec.alternate ? "#" : ""
                body = String(format: "%\(flag).\(p)\(Character(t))", scaled)
                if type == "%" { body += "%" }
                if let g = spec.grouping {
                    let parts = body.split(separator: ".", maxSplits: 1)
                    body = group(String(parts.first ?? ""), String(g), 3) + (parts.count > 1 ? "." + parts[1] : "")
                }
            }
        default:
            throw TokenizerError("chat template: unknown format code '\(type)' for a number")
        }
        let signText = negative ? "-" : spec.sign == "+" ? "+" : spec.sign == " " ? " " : ""
        return signText + body
    }

    static func group(_ digits: String, _ sep: String, _ size: Int) -> String {
        let chars = Array(digits)
        var out = ""
        for (k, c) in chars.enumerated() {
            if k > 0 && (chars.count - k) % size == 0 { out += sep }
            out.append(c)
        }
        return out
    }

    // MARK: str.format

    static func format(_ format: String, _ args: JinjaArguments) throws(TokenizerError) -> String {
        let f = Array(format.unicodeScalars)
        var out = ""
        var i = 0
        var auto = 0
        while i < f.count {
            let u = f[i]
            if u == "}" {
                guard i + 1 < f.count && f[i + 1] == "}" else { throw TokenizerError("chat template: single '}' encountered in format string") }
                out += "}"
                i += 2
                continue
            }
            if u != "{" {
                out.unicodeScalars.append(u)
                i += 1
                continue
            }
            if i + 1 < f.count && f[i + 1] == "{" {
                out += "{"
                i += 2
                continue
            }
            var j = i + 1
            var depth = 1
            while j < f.count {
                if f[j] == "{" { depth += 1 } else if f[j] == "}" { depth -= 1; if depth == 0 { break } }
                j += 1
            }
            guard j < f.count else { throw TokenizerError("chat template: expected '}' before end of string") }
            let field = Array(f[(i + 1)..<j])
            i = j + 1
            // field_name[!conversion][:spec]
            var nameEnd = field.count
            for (k, c) in field.enumerated() where c == "!" || c == ":" { nameEnd = k; break }
            let name = String(String.UnicodeScalarView(field[..<nameEnd]))
            var conversion: Unicode.Scalar?
            var specText = ""
            var rest = field[nameEnd...]
            if rest.first == "!" {
                rest = rest.dropFirst()
                conversion = rest.first
                rest = rest.dropFirst()
            }
            if rest.first == ":" {
                // A nested {} inside the spec takes the next argument.
                specText = try self.format(String(String.UnicodeScalarView(rest.dropFirst())), args)
            }
            var value = try fieldValue(name, args, &auto)
            switch conversion {
            case "r", "a": value = .string(value.repr)
            case "s": value = .string(value.pythonString)
            default: break
            }
            out += try formatValue(value, specText)
        }
        return out
    }

    private static func fieldValue(_ name: String, _ args: JinjaArguments, _ auto: inout Int) throws(TokenizerError) -> JinjaValue {
        let scalars = Array(name.unicodeScalars)
        var k = 0
        while k < scalars.count && scalars[k] != "." && scalars[k] != "[" { k += 1 }
        let head = String(String.UnicodeScalarView(scalars[..<k]))
        var value: JinjaValue
        if head.isEmpty {
            guard auto < args.positional.count else { throw TokenizerError("chat template: Replacement index \(auto) out of range for positional args tuple") }
            value = args.positional[auto]
            auto += 1
        } else if let index = Int(head) {
            guard index >= 0 && index < args.positional.count else { throw TokenizerError("chat template: Replacement index \(index) out of range for positional args tuple") }
            value = args.positional[index]
        } else {
            guard let v = args.keyword.first(where: { $0.0 == head })?.1 else { throw TokenizerError("chat template: format key '\(head)' is missing") }
            value = v
        }
        while k < scalars.count {
            if scalars[k] == "." {
                var e = k + 1
                while e < scalars.count && scalars[e] != "." && scalars[e] != "[" { e += 1 }
                let attr = String(String.UnicodeScalarView(scalars[(k + 1)..<e]))
                guard let v = value.lookup(attr) else { throw TokenizerError("chat template: format field has no attribute '\(attr)'") }
                value = v
                k = e
            } else {
                var e = k + 1
                while e < scalars.count && scalars[e] != "]" { e += 1 }
                let key = String(String.UnicodeScalarView(scalars[(k + 1)..<min(e, scalars.count)]))
                if let i = Int(key), let items = value.iterated(), case .array = value {
                    guard let v = JinjaAccess.element(items, i) else { throw TokenizerError("chat template: format index out of range") }
                    value = v
                } else {
                    guard let v = value.lookup(key) else { throw TokenizerError("chat template: format key '\(key)' is missing") }
                    value = v
                }
                k = e + 1
            }
        }
        return value
    }

    static func parseSpec(_ text: String) throws(TokenizerError) -> Spec {
        let s = Array(text.unicodeScalars)
        var spec = Spec()
        var i = 0
        func isAlign(_ u: Unicode.Scalar) -> Bool { "<>=^".unicodeScalars.contains(u) }
        if s.count >= 2 && isAlign(s[1]) {
            spec.fill = s[0]
            spec.align = s[1]
            i = 2
        } else if s.count >= 1 && isAlign(s[0]) {
            spec.align = s[0]
            i = 1
        }
        if i < s.count && "+- ".unicodeScalars.contains(s[i]) { spec.sign = s[i]; i += 1 }
        if i < s.count && s[i] == "#" { spec.alternate = true; i += 1 }
        if i < s.count && s[i] == "0" { spec.zero = true; i += 1 }
        while i < s.count, let d = Int(String(s[i])) {
            spec.width = min(spec.width * 10 + d, 100_000)
            i += 1
        }
        if i < s.count && (s[i] == "," || s[i] == "_") { spec.grouping = s[i]; i += 1 }
        if i < s.count && s[i] == "." {
            i += 1
            var p = 0
            while i < s.count, let d = Int(String(s[i])) {
                p = min(p * 10 + d, 1000)
                i += 1
            }
            spec.precision = p
        }
        if i < s.count { spec.type = s[i]; i += 1 }
        guard i == s.count else { throw TokenizerError("chat template: invalid format specifier '\(text)'") }
        return spec
    }

    static func formatValue(_ v: JinjaValue, _ specText: String) throws(TokenizerError) -> String {
        if specText.isEmpty { return v.pythonString }
        var spec = try parseSpec(specText)
        var body: String
        var numeric = false
        if let n = v.numeric, !(v.isBool && spec.type == nil) {
            numeric = true
            if spec.type == nil {
                if case .double(let d) = n {
                    if let p = spec.precision {
                        spec.type = "g"
                        spec.precision = max(p, 1)
                    } else {
                        body = JinjaNumber.repr(Swift.abs(d))
                        let sign = d < 0 || (d == 0 && d.sign == .minus) ? "-" : spec.sign == "+" ? "+" : spec.sign == " " ? " " : ""
                        return pad(sign + body, spec, numeric: true)
                    }
                }
            }
            body = try number(n, spec, percentStyle: false)
        } else {
            guard spec.type == nil || spec.type == "s" else {
                throw TokenizerError("chat template: unknown format code '\(spec.type.map { String($0) } ?? "")' for object of type '\(v.typeName)'")
            }
            body = v.pythonString
            if let p = spec.precision { body = String(String.UnicodeScalarView(body.unicodeScalars.prefix(p))) }
        }
        return pad(body, spec, numeric: numeric)
    }

    private static func pad(_ body: String, _ spec: Spec, numeric: Bool) -> String {
        var spec = spec
        if spec.zero && spec.align == nil {
            spec.fill = "0"
            spec.align = "="
        }
        let n = body.unicodeScalars.count
        guard spec.width > n else { return body }
        let total = spec.width - n
        let fill = String(spec.fill)
        switch spec.align ?? (numeric ? ">" : "<") {
        case "<": return body + String(repeating: fill, count: total)
        case "^": return String(repeating: fill, count: total / 2) + body + String(repeating: fill, count: total - total / 2)
        case "=":
            if let first = body.unicodeScalars.first, "+- ".unicodeScalars.contains(first) {
                return String(first) + String(repeating: fill, count: total) + String(body.unicodeScalars.dropFirst())
            }
            return String(repeating: fill, count: total) + body
        default: return String(repeating: fill, count: total) + body
        }
    }
}

extension JinjaValue {
    var isBool: Bool { if case .bool = self { true } else { false } }
}
