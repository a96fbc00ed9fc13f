/// Binary operators and comparisons with Python's rules: `+` joins strings, lists or tuples of the same kind only,
/// `*` repeats sequences, `%` formats strings, `<` orders numbers, strings and sequences but not mixed types,
/// a Markup operand escapes the other one.
enum JinjaOperators {
    /// Strings built by `*`, `+` and `~` stay under this many bytes, lists under `maxListSize` items (a template
    /// must not allocate gigabytes with `'x' * 10**12` or by doubling a string in a loop).
    static let maxRepeatedSize = 16 << 20
    static let maxListSize = 1 << 20

    static func checkSize(_ v: JinjaValue) throws(TokenizerError) -> JinjaValue {
        switch v {
        case .string(let s), .safe(let s):
            if s.utf8.count > maxRepeatedSize { throw TokenizerError("chat template: a string grew larger than \(maxRepeatedSize) bytes") }
        case .array(let a), .tuple(let a):
            if a.count > maxListSize { throw TokenizerError("chat template: a list grew longer than \(maxListSize) items") }
        default: break
        }
        return v
    }

    static func typeError(_ op: String, _ a: JinjaValue, _ b: JinjaValue) -> TokenizerError {
        if a.isUndefined || b.isUndefined { return TokenizerError("chat template: an undefined value was used in '\(op)'") }
        return TokenizerError("chat template: cannot apply '\(op)' to '\(a.typeName)' and '\(b.typeName)'")
    }

    static func binary(_ op: JinjaBinary, _ a: JinjaValue, _ b: JinjaValue) throws(TokenizerError) -> JinjaValue {
        if let x = a.numeric, let y = b.numeric {
            switch op {
            case .add: return JinjaValue(try JinjaNumber.add(x, y))
            case .subtract: return JinjaValue(try JinjaNumber.subtract(x, y))
            case .multiply: return JinjaValue(try JinjaNumber.multiply(x, y))
            case .divide: return JinjaValue(try JinjaNumber.trueDivide(x, y))
            case .floorDivide: return JinjaValue(try JinjaNumber.floorDivide(x, y))
            case .modulo: return JinjaValue(try JinjaNumber.modulo(x, y))
            case .power: return JinjaValue(try JinjaNumber.power(x, y))
            }
        }
        if a.isUndefined || (b.isUndefined && !(op == .modulo && a.isString)) { throw typeError(op.rawValue, a, b) }
        switch op {
        case .add:
            switch (a, b) {
            case (.string(let x), .string(let y)): return try checkSize(.string(x + y))
            case (.safe(let x), _) where b.isString: return try checkSize(.safe(x + escaped(b)))
            case (_, .safe(let y)) where a.isString: return try checkSize(.safe(escaped(a) + y))
            case (.array(let x), .array(let y)): return try checkSize(.array(x + y))
            case (.tuple(let x), .tuple(let y)): return try checkSize(.tuple(x + y))
            default: break
            }
        case .multiply:
            if let n = JinjaAccess.intIndex(b) { return try repeated(a, n) }
            if let n = JinjaAccess.intIndex(a) { return try repeated(b, n) }
        case .modulo:
            if let s = a.stringValue {
                if case .safe = a { return .safe(try JinjaFormat.percent(s, b, escapeArguments: true)) }
                return .string(try JinjaFormat.percent(s, b))
            }
        default: break
        }
        throw typeError(op.rawValue, a, b)
    }

    /// markupsafe's escape of the other operand of a Markup operation.
    static func escaped(_ v: JinjaValue) -> String {
        if case .safe(let s) = v { return s }
        return Python.escapeHTML(v.pythonString)
    }

    private static func repeated(_ v: JinjaValue, _ n: Int) throws(TokenizerError) -> JinjaValue {
        let count = max(0, n)
        let unit: Int
        switch v {
        case .string(let s), .safe(let s): unit = s.utf8.count
        case .array(let a), .tuple(let a): unit = a.count
        default: throw TokenizerError("chat template: cannot apply '*' to '\(v.typeName)' and 'int'")
        }
        let (total, o) = unit.multipliedReportingOverflow(by: count)
        if o || total > (v.isString ? maxRepeatedSize : maxListSize) { throw TokenizerError("chat template: '*' would make a value larger than \(maxRepeatedSize)") }
        switch v {
        case .string(let s): return .string(String(repeating: s, count: count))
        case .safe(let s): return .safe(String(repeating: s, count: count))
        case .array(let a): return .array(Array([[JinjaValue]](repeating: a, count: count).joined()))
        case .tuple(let a): return .tuple(Array([[JinjaValue]](repeating: a, count: count).joined()))
        default: return v
        }
    }

    static func compare(_ op: JinjaCompare, _ a: JinjaValue, _ b: JinjaValue) throws(TokenizerError) -> Bool {
        switch op {
        case .eq: return a == b
        case .ne: return a != b
        case .in: return try contains(b, a)
        case .notIn: return !(try contains(b, a))
        case .lt: return try order(a, b, op) < 0
        case .le: return try order(a, b, op) <= 0
        case .gt: return try order(a, b, op) > 0
        case .ge: return try order(a, b, op) >= 0
        }
    }

    /// Python's ordering (a failed comparison — NaN — counts as false by returning a value outside the test).
    static func order(_ a: JinjaValue, _ b: JinjaValue, _ op: JinjaCompare) throws(TokenizerError) -> Int {
        if let x = a.numeric, let y = b.numeric {
            guard let c = JinjaNumber.compare(x, y) else { return op == .lt || op == .le ? 1 : -1 }
            return c
        }
        if let x = a.stringValue, let y = b.stringValue {
            return x.unicodeScalars.lexicographicallyPrecedes(y.unicodeScalars) ? -1 : (x.unicodeScalars.elementsEqual(y.unicodeScalars) ? 0 : 1)
        }
        switch (a, b) {
        case (.array(let x), .array(let y)), (.tuple(let x), .tuple(let y)):
            for (p, q) in zip(x, y) where p != q { return try order(p, q, op) }
            return x.count < y.count ? -1 : x.count > y.count ? 1 : 0
        default:
            throw TokenizerError("chat template: '\(op.rawValue)' not supported between instances of '\(a.typeName)' and '\(b.typeName)'")
        }
    }

    /// `needle in haystack`.
    static func contains(_ haystack: JinjaValue, _ needle: JinjaValue) throws(TokenizerError) -> Bool {
        switch haystack {
        case .undefined: return false
        case .string(let s), .safe(let s):
            guard let n = needle.stringValue else {
                throw TokenizerError("chat template: 'in <string>' requires string as left operand, not \(needle.typeName)")
            }
            if n.isEmpty { return true }
            return s.unicodeScalars.firstRange(of: n.unicodeScalars) != nil
        case .array(let a), .tuple(let a): return a.contains(needle)
        case .dict(let d):
            switch needle {
            case .array, .dict: throw TokenizerError("chat template: unhashable type: '\(needle.typeName)'")
            default: break
            }
            guard let k = JinjaKey.encode(needle) else { return false }
            return d.contains { $0.0 == k }
        case .object(let o):
            guard o.iterate() != nil || o is JinjaSequence else { throw TokenizerError("chat template: argument of type '\(o.typeName)' is not iterable") }
            return try haystack.iterate().contains(needle)
        default:
            throw TokenizerError("chat template: argument of type '\(haystack.typeName)' is not iterable")
        }
    }
}
