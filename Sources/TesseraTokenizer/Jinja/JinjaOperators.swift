import Foundation

/// Operators, filters and methods of the template subset.
enum JinjaOperators {
    static func binary(_ op: String, _ a: JinjaValue, _ b: JinjaValue) throws(TokenizerError) -> JinjaValue {
        switch op {
        case "==": return .bool(a == b)
        case "!=": return .bool(a != b)
        case "~": return .string(a.rendered + b.rendered)
        case "in":
            switch b {
            case .array(let items): return .bool(items.contains(a))
            case .dict(let d): if case .string(let k) = a { return .bool(d.contains { $0.0 == k }) }
            case .string(let s): if case .string(let sub) = a { return .bool(sub.isEmpty || s.contains(sub)) }
            default: break
            }
            throw TokenizerError("chat template: cannot test 'in' on a \(b.typeName)")
        default: break
        }
        switch (a, b) {
        case (.string(let x), .string(let y)):
            switch op {
            case "+": return .string(x + y)
            case "<": return .bool(x < y)
            case ">": return .bool(x > y)
            case "<=": return .bool(x <= y)
            case ">=": return .bool(x >= y)
            default: break
            }
        case (.array(let x), .array(let y)) where op == "+": return .array(x + y)
        case (.int(let x), .int(let y)):
            switch op {
            case "+": return .int(x &+ y)
            case "-": return .int(x &- y)
            case "*": return .int(x &* y)
            case "//": guard y != 0 else { break }; return .int(Int((Double(x) / Double(y)).rounded(.down)))
            case "%": guard y != 0 else { break }; return .int(((x % y) + y) % y)
            case "/": guard y != 0 else { break }; return .double(Double(x) / Double(y))
            case "<": return .bool(x < y)
            case ">": return .bool(x > y)
            case "<=": return .bool(x <= y)
            case ">=": return .bool(x >= y)
            default: break
            }
        default:
            if let x = number(a), let y = number(b) {
                switch op {
                case "+": return .double(x + y)
                case "-": return .double(x - y)
                case "*": return .double(x * y)
                case "/": guard y != 0 else { break }; return .double(x / y)
                case "<": return .bool(x < y)
                case ">": return .bool(x > y)
                case "<=": return .bool(x <= y)
                case ">=": return .bool(x >= y)
                default: break
                }
            }
        }
        throw TokenizerError("chat template: cannot apply '\(op)' to a \(a.typeName) and a \(b.typeName)")
    }

    private static func number(_ v: JinjaValue) -> Double? {
        switch v {
        case .int(let i): Double(i)
        case .double(let d): d
        default: nil
        }
    }

    static func filter(_ name: String, _ v: JinjaValue, _ args: [JinjaValue]) throws(TokenizerError) -> JinjaValue {
        switch (name, v) {
        case ("trim", .string(let s)): return .string(s.trimmingCharacters(in: .whitespacesAndNewlines))
        case ("upper", .string(let s)): return .string(s.uppercased())
        case ("lower", .string(let s)): return .string(s.lowercased())
        case ("length", .string(let s)), ("count", .string(let s)): return .int(s.count)
        case ("length", .array(let a)), ("count", .array(let a)): return .int(a.count)
        case ("length", .dict(let d)), ("count", .dict(let d)): return .int(d.count)
        case ("string", _): return .string(v.rendered)
        case ("default", _), ("d", _): return v == .undefined ? (args.first ?? .string("")) : v
        case ("first", .array(let a)): return a.first ?? .undefined
        case ("last", .array(let a)): return a.last ?? .undefined
        case ("reverse", .array(let a)): return .array(a.reversed())
        case ("join", .array(let a)):
            let sep = args.first?.rendered ?? ""
            return .string(a.map(\.rendered).joined(separator: sep))
        case ("tojson", _): return .string(json(v))
        default: throw TokenizerError("chat template: the filter '\(name)' is not supported on a \(v.typeName)")
        }
    }

    static func method(_ name: String, on v: JinjaValue, _ args: [JinjaValue]) throws(TokenizerError) -> JinjaValue {
        switch (name, v, args.first) {
        case ("strip", .string(let s), nil): return .string(s.trimmingCharacters(in: .whitespacesAndNewlines))
        case ("lstrip", .string(let s), nil): return .string(String(s.drop { $0.isWhitespace }))
        case ("rstrip", .string(let s), nil): return .string(String(s.reversed().drop { $0.isWhitespace }.reversed()))
        case ("upper", .string(let s), nil): return .string(s.uppercased())
        case ("lower", .string(let s), nil): return .string(s.lowercased())
        case ("startswith", .string(let s), .string(let p)?): return .bool(s.hasPrefix(p))
        case ("endswith", .string(let s), .string(let p)?): return .bool(s.hasSuffix(p))
        case ("split", .string(let s), .string(let sep)?) where !sep.isEmpty:
            return .array(s.components(separatedBy: sep).map { .string($0) })
        case ("replace", .string(let s), .string(let old)?) where args.count == 2 && !old.isEmpty:
            return .string(s.replacingOccurrences(of: old, with: args[1].rendered))
        case ("items", .dict(let d), nil): return .array(d.map { .array([.string($0.0), $0.1]) })
        case ("keys", .dict(let d), nil): return .array(d.map { .string($0.0) })
        case ("values", .dict(let d), nil): return .array(d.map { $0.1 })
        case ("get", .dict, .string(let k)?): let r = v[k]; return r == .undefined ? (args.count > 1 ? args[1] : .none) : r
        default: throw TokenizerError("chat template: the method '\(name)' is not supported on a \(v.typeName)")
        }
    }

    static func json(_ v: JinjaValue) -> String {
        switch v {
        case .undefined, .none: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d): return String(d)
        case .string(let s):
            var out = "\""
            for u in s.unicodeScalars {
                switch u {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
                default: out.unicodeScalars.append(u)
                }
            }
            return out + "\""
        case .array(let a): return "[" + a.map(json).joined(separator: ", ") + "]"
        case .dict(let d): return "{" + d.map { json(.string($0.0)) + ": " + json($0.1) }.joined(separator: ", ") + "}"
        }
    }
}
