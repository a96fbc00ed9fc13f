import Foundation

/// JSON in and out as Python's json module does it: objects keep key order, `1` is an int and `1.0` a float (so
/// templates print them as Python would), and `tojson` writes `json.dumps(..., ensure_ascii=False)` exactly.
extension JinjaValue {
    public init(jsonText: String) throws(TokenizerError) {
        try self.init(jsonData: Data(jsonText.utf8))
    }

    public init(jsonData: Data) throws(TokenizerError) {
        var parser = JSONParser(bytes: [UInt8](jsonData))
        self = try parser.parseDocument()
    }

    /// Python's `json.dumps(self, ensure_ascii=, indent=, separators=, sort_keys=)`.
    func json(ensureASCII: Bool = false, indent: String? = nil, separators: (String, String)? = nil,
              sortKeys: Bool = false) throws(TokenizerError) -> String {
        var out = ""
        let seps = separators ?? (indent == nil ? (", ", ": ") : (",", ": "))
        try JSONWriter(ensureASCII: ensureASCII, indent: indent, itemSeparator: seps.0, keySeparator: seps.1,
                       sortKeys: sortKeys).write(self, into: &out, level: 0)
        return out
    }
}

private struct JSONParser {
    let bytes: [UInt8]
    var i = 0
    var depth = 0
    static let maxDepth = 512

    init(bytes: [UInt8]) { self.bytes = bytes }

    func error(_ what: String) -> TokenizerError { TokenizerError("JSON: \(what) at byte \(i)") }

    mutating func parseDocument() throws(TokenizerError) -> JinjaValue {
        let v = try parseValue()
        skipSpace()
        guard i == bytes.count else { throw error("unexpected trailing characters") }
        return v
    }

    mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    mutating func literal(_ word: String, _ value: JinjaValue) throws(TokenizerError) -> JinjaValue {
        let w = Array(word.utf8)
        guard i + w.count <= bytes.count, Array(bytes[i..<(i + w.count)]) == w else { throw error("invalid literal") }
        i += w.count
        return value
    }

    mutating func parseValue() throws(TokenizerError) -> JinjaValue {
        skipSpace()
        guard i < bytes.count else { throw error("unexpected end") }
        switch bytes[i] {
        case UInt8(ascii: "{"):
            depth += 1
            defer { depth -= 1 }
            guard depth <= Self.maxDepth else { throw error("nesting too deep") }
            i += 1
            var pairs: [(String, JinjaValue)] = []
            skipSpace()
            if i < bytes.count && bytes[i] == UInt8(ascii: "}") { i += 1; return .dict(pairs) }
            while true {
                skipSpace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw error("expected a key") }
                let key = JinjaKey.escape(try parseString())
                skipSpace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw error("expected ':'") }
                i += 1
                let value = try parseValue()
                // Python's json keeps the last of duplicate keys, in the first one's place.
                if let k = pairs.firstIndex(where: { $0.0 == key }) { pairs[k].1 = value } else { pairs.append((key, value)) }
                skipSpace()
                guard i < bytes.count else { throw error("unexpected end") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "}") { i += 1; return .dict(pairs) }
                throw error("expected ',' or '}'")
            }
        case UInt8(ascii: "["):
            depth += 1
            defer { depth -= 1 }
            guard depth <= Self.maxDepth else { throw error("nesting too deep") }
            i += 1
            var items: [JinjaValue] = []
            skipSpace()
            if i < bytes.count && bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
            while true {
                items.append(try parseValue())
                skipSpace()
                guard i < bytes.count else { throw error("unexpected end") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                throw error("expected ',' or ']'")
            }
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .none)
        case UInt8(ascii: "N"): return try literal("NaN", .double(.nan))
        case UInt8(ascii: "I"): return try literal("Infinity", .double(.infinity))
        default: return try parseNumber()
        }
    }

    mutating func parseNumber() throws(TokenizerError) -> JinjaValue {
        let start = i
        if i < bytes.count && bytes[i] == UInt8(ascii: "-") {
            i += 1
            if i < bytes.count && bytes[i] == UInt8(ascii: "I") { _ = try literal("Infinity", .none); return .double(-.infinity) }
        }
        var isFloat = false
        let digitsStart = i
        while i < bytes.count && bytes[i] >= 0x30 && bytes[i] <= 0x39 { i += 1 }
        guard i > digitsStart else { throw error("invalid value") }
        if bytes[digitsStart] == 0x30 && i - digitsStart > 1 { throw error("leading zero") }
        if i < bytes.count && bytes[i] == UInt8(ascii: ".") {
            isFloat = true
            i += 1
            let f = i
            while i < bytes.count && bytes[i] >= 0x30 && bytes[i] <= 0x39 { i += 1 }
            guard i > f else { throw error("invalid fraction") }
        }
        if i < bytes.count && (bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E")) {
            isFloat = true
            i += 1
            if i < bytes.count && (bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-")) { i += 1 }
            let e = i
            while i < bytes.count && bytes[i] >= 0x30 && bytes[i] <= 0x39 { i += 1 }
            guard i > e else { throw error("invalid exponent") }
        }
        let text = String(decoding: bytes[start..<i], as: UTF8.self)
        if !isFloat {
            guard let v = Int(text) else { throw error("integer \(text) does not fit in 64 bits") }
            return .int(v)
        }
        guard let d = Double(text) else { throw error("invalid number") }
        return .double(d)
    }

    mutating func hex4() throws(TokenizerError) -> UInt32 {
        guard i + 4 <= bytes.count else { throw error("short \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[i]
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: throw error("bad \\u escape")
            }
            v = v * 16 + d
            i += 1
        }
        return v
    }

    mutating func parseString() throws(TokenizerError) -> String {
        i += 1  // opening quote
        var out = [UInt8]()
        while true {
            guard i < bytes.count else { throw error("unterminated string") }
            let c = bytes[i]
            if c == UInt8(ascii: "\"") { i += 1; break }
            if c < 0x20 { throw error("control character in string") }
            if c != UInt8(ascii: "\\") {
                out.append(c)
                i += 1
                continue
            }
            i += 1
            guard i < bytes.count else { throw error("unterminated escape") }
            let e = bytes[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var code = try hex4()
                if code >= 0xD800 && code < 0xDC00, i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"),
                    bytes[i + 1] == UInt8(ascii: "u")
                {
                    let save = i
                    i += 2
                    let low = try hex4()
                    if low >= 0xDC00 && low < 0xE000 {
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    } else {
                        i = save
                    }
                }
                // A lone surrogate has no UTF-8 form; it becomes U+FFFD.
                let scalar = Unicode.Scalar(code) ?? "\u{FFFD}"
                out.append(contentsOf: Array(String(scalar).utf8))
            default: throw error("invalid escape")
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

private struct JSONWriter {
    let ensureASCII: Bool
    let indent: String?
    let itemSeparator: String
    let keySeparator: String
    let sortKeys: Bool
    static let maxDepth = 512

    func newline(_ out: inout String, _ level: Int) {
        guard let indent else { return }
        out += "\n"
        for _ in 0..<level { out += indent }
    }

    func write(_ v: JinjaValue, into out: inout String, level: Int) throws(TokenizerError) {
        guard level < Self.maxDepth else { throw TokenizerError("chat template: tojson: nesting too deep") }
        guard out.utf8.count <= JinjaOperators.maxRepeatedSize else { throw TokenizerError("chat template: tojson output is too large") }
        switch v {
        case .none: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d):
            if d.isNaN { out += "NaN" } else if d.isInfinite { out += d < 0 ? "-Infinity" : "Infinity" } else {
                out += JinjaNumber.repr(d)
            }
        case .string(let s), .safe(let s): writeString(s, &out)
        case .array(let a), .tuple(let a):
            if a.isEmpty { out += "[]"; return }
            out += "["
            for (k, item) in a.enumerated() {
                if k > 0 { out += itemSeparator }
                newline(&out, level + 1)
                try write(item, into: &out, level: level + 1)
            }
            newline(&out, level)
            out += "]"
        case .dict(let d):
            if d.isEmpty { out += "{}"; return }
            out += "{"
            var pairs = d.map { (JinjaKey.decode($0.0), $0.1) }
            if sortKeys {
                var failure: TokenizerError?
                pairs.sort { a, b in
                    do { return try JinjaOperators.order(a.0, b.0, .lt) < 0 } catch let e as TokenizerError { failure = e } catch {}
                    return false
                }
                if let failure { throw failure }
            }
            for (k, (key, item)) in pairs.enumerated() {
                if k > 0 { out += itemSeparator }
                newline(&out, level + 1)
                switch key {
                case .string(let s): writeString(s, &out)
                case .int(let i): writeString(String(i), &out)
                case .double(let x): writeString(x.isNaN ? "NaN" : x.isInfinite ? (x < 0 ? "-Infinity" : "Infinity") : JinjaNumber.repr(x), &out)
                case .none: writeString("null", &out)
                default: writeString(key.pythonString, &out)
                }
                out += keySeparator
                try write(item, into: &out, level: level + 1)
            }
            newline(&out, level)
            out += "}"
        case .undefined, .object:
            throw TokenizerError("chat template: Object of type \(v.typeName) is not JSON serializable")
        }
    }

    func writeString(_ s: String, _ out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if u.value < 0x20 {
                    out += "\\u" + Python.hex(u.value, 4)
                } else if ensureASCII && u.value > 0x7F {
                    if u.value > 0xFFFF {
                        let v = u.value - 0x10000
                        out += "\\u" + Python.hex(0xD800 + (v >> 10), 4) + "\\u" + Python.hex(0xDC00 + (v & 0x3FF), 4)
                    } else {
                        out += "\\u" + Python.hex(u.value, 4)
                    }
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        out += "\""
    }
}
