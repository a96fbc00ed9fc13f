/// jinja2's tests (`x is defined`, `x is divisibleby 3`), with Python's type rules: bools are numbers but not
/// integers, dicts are sequences, undefined is iterable and callable.
enum JinjaTests {
    static let names: Set<String> = [
        "defined", "undefined", "none", "boolean", "false", "true", "integer", "float", "number", "string", "mapping",
        "iterable", "sequence", "callable", "sameas", "escaped", "odd", "even", "divisibleby", "lower", "upper", "in",
        "eq", "equalto", "==", "ne", "!=", "lt", "lessthan", "<", "le", "<=", "gt", "greaterthan", ">", "ge", ">=",
        "filter", "test",
    ]

    static func apply(_ name: String, _ v: JinjaValue, _ args: JinjaArguments, _ r: JinjaRenderer) throws(TokenizerError) -> Bool {
        func other() throws(TokenizerError) -> JinjaValue {
            guard let o = args.positional.first ?? args.keyword.first?.1 else {
                throw TokenizerError("chat template: test '\(name)' needs an argument")
            }
            return o
        }
        switch name {
        case "defined": return !v.isUndefined
        case "undefined": return v.isUndefined
        case "none": return v.isNone
        case "boolean": return v.isBool
        case "true": if case .bool(true) = v { return true } else { return false }
        case "false": if case .bool(false) = v { return true } else { return false }
        case "integer": if case .int = v { return true } else { return false }
        case "float": if case .double = v { return true } else { return false }
        case "number": return v.numeric != nil
        case "string": return v.isString
        case "mapping": if case .dict = v { return true } else { return false }
        case "iterable":
            switch v {
            case .undefined, .string, .safe, .array, .tuple, .dict: return true
            case .object(let o): return o.iterate() != nil || o is JinjaLoop
            default: return false
            }
        case "sequence":
            switch v {
            case .undefined, .string, .safe, .array, .tuple, .dict: return true
            case .object(let o): return (o as? JinjaSequence)?.kind.indexable ?? false
            default: return false
            }
        case "callable":
            switch v {
            case .undefined: return true
            case .object(let o): return o.isCallable
            default: return false
            }
        case "sameas":
            let o = try other()
            switch (v, o) {
            case (.none, .none), (.undefined, .undefined): return true
            case (.bool(let a), .bool(let b)): return a == b
            case (.int(let a), .int(let b)): return a == b && a >= -5 && a <= 256
            case (.object(let a), .object(let b)): return a === b
            default: return false
            }
        case "escaped": return v.isSafe
        case "odd", "even":
            guard let n = v.numeric else { throw TokenizerError("chat template: test '\(name)' needs a number, got \(v.typeName)") }
            let m = try JinjaNumber.modulo(n, .int(2))
            return JinjaNumber.equal(m, .int(name == "odd" ? 1 : 0))
        case "divisibleby":
            guard let n = v.numeric, let d = try other().numeric else { throw TokenizerError("chat template: divisibleby needs numbers") }
            return JinjaNumber.equal(try JinjaNumber.modulo(n, d), .int(0))
        case "lower": return Python.isLower(v.pythonString)
        case "upper": return Python.isUpper(v.pythonString)
        case "in": return try JinjaOperators.contains(try other(), v)
        case "eq", "equalto", "==": return v == (try other())
        case "ne", "!=": return v != (try other())
        case "lt", "lessthan", "<": return try JinjaOperators.compare(.lt, v, try other())
        case "le", "<=": return try JinjaOperators.compare(.le, v, try other())
        case "gt", "greaterthan", ">": return try JinjaOperators.compare(.gt, v, try other())
        case "ge", ">=": return try JinjaOperators.compare(.ge, v, try other())
        case "filter": return v.stringValue.map { JinjaFilters.names.contains($0) } ?? false
        case "test": return v.stringValue.map { names.contains($0) } ?? false
        default: throw TokenizerError("chat template: test '\(name)' is not supported")
        }
    }
}
