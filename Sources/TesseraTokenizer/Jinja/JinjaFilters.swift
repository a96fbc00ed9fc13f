import Foundation

/// jinja2's built-in filters (and transformers' `tojson`), each as `jinja2/filters.py` defines it: the same
/// argument names and defaults, case-insensitive sorting and uniqueness, generators where jinja2 returns them.
enum JinjaFilters {
    static let names: Set<String> = [
        "abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape", "first",
        "float", "forceescape", "format", "from_json", "indent", "int", "items", "join", "last", "length", "list",
        "lower", "map", "max", "min", "reject", "rejectattr", "replace", "reverse", "round", "safe", "select",
        "selectattr", "slice", "sort", "string", "sum", "title", "tojson", "trim", "truncate", "unique", "upper",
        "wordcount",
    ]

    static func apply(_ name: String, _ v: JinjaValue, _ args: JinjaArguments, _ r: JinjaRenderer) throws(TokenizerError) -> JinjaValue {
        switch v {
        case .array(let a), .tuple(let a): try r.charge(a.count)
        case .dict(let d): try r.charge(d.count)
        case .object(let o): try r.charge((o as? JinjaSequence)?.items.count ?? 0)
        default: break
        }
        func bind(_ names: [String], _ defaults: [JinjaValue?]) throws(TokenizerError) -> [JinjaValue] {
            try args.bind(name, names, defaults)
        }
        /// soft_str: Markup stays Markup.
        func soft(_ transform: (String) -> String) -> JinjaValue {
            if case .safe(let s) = v { return .safe(transform(s)) }
            return .string(transform(v.pythonString))
        }
        switch name {
        case "default", "d":
            let a = try bind(["default_value", "boolean"], [.string(""), .bool(false)])
            if v.isUndefined || (a[1].truthy && !v.truthy) { return a[0] }
            return v
        case "length", "count":
            guard let n = v.length else { throw TokenizerError("chat template: object of type '\(v.typeName)' has no len()") }
            return .int(n)
        case "string": return v.isSafe ? v : .string(v.pythonString)
        case "safe": return .safe(v.pythonString)
        case "escape", "e":
            if v.isSafe { return v }
            return .safe(Python.escapeHTML(v.pythonString))
        case "forceescape": return .safe(Python.escapeHTML(v.pythonString))
        case "upper": return soft(Python.upper)
        case "lower": return soft(Python.lower)
        case "capitalize": return soft(Python.capitalize)
        case "title": return soft(title)
        case "trim":
            let a = try bind(["chars"], [JinjaValue.none])
            let chars = a[0].isNone ? nil : a[0].pythonString
            return soft { Python.strip($0, chars, left: true, right: true) }
        case "center":
            let a = try bind(["width"], [.int(80)])
            let width = JinjaAccess.intIndex(a[0]) ?? 80
            guard width <= JinjaOperators.maxRepeatedSize else { throw TokenizerError("chat template: center width is too large") }
            return soft { JinjaStrings.pad($0, width, " ", "center") }
        case "replace":
            let a = try bind(["old", "new", "count"], [nil, nil, JinjaValue.none])
            let count = a[2].isNone ? -1 : (JinjaAccess.intIndex(a[2]) ?? -1)
            return try JinjaOperators.checkSize(.string(JinjaStrings.replace(v.pythonString, a[0].pythonString, a[1].pythonString, count)))
        case "truncate": return try truncate(v, try bind(["length", "killwords", "end", "leeway"], [.int(255), .bool(false), .string("..."), JinjaValue.none]))
        case "wordcount":
            var n = 0, inWord = false
            for u in v.pythonString.unicodeScalars {
                let w = Python.isWordChar(u)
                if w && !inWord { n += 1 }
                inWord = w
            }
            return .int(n)
        case "indent": return try indent(v, try bind(["width", "first", "blank"], [.int(4), .bool(false), .bool(false)]))
        case "format":
            let values: JinjaValue = args.keyword.isEmpty ? .tuple(args.positional) : .dict(args.keyword)
            return .string(try JinjaFormat.percent(v.pythonString, values))
        case "join":
            let a = try bind(["d", "attribute"], [.string(""), JinjaValue.none])
            var items = try v.iterate()
            if !a[1].isNone { items = try items.map { (x) throws(TokenizerError) in try attribute(x, a[1], r) } }
            var out = ""
            let sep = a[0].pythonString
            for (k, x) in items.enumerated() {
                if k > 0 { out += sep }
                out += x.pythonString
                if out.utf8.count > JinjaOperators.maxRepeatedSize { break }
            }
            return try JinjaOperators.checkSize(.string(out))
        case "list": return .array(try v.iterate())
        case "first":
            if case .object(let o) = v, let seq = o as? JinjaSequence, seq.deferredError != nil, let first = seq.items.first { return first }
            return try v.iterate().first ?? .undefined
        case "last":
            guard v.length != nil || v.isUndefined else { throw TokenizerError("chat template: '\(v.typeName)' object is not reversible") }
            return try v.iterate().last ?? .undefined
        case "reverse":
            if case .string(let s) = v { return .string(String(String.UnicodeScalarView(s.unicodeScalars.reversed()))) }
            if case .safe(let s) = v { return .safe(String(String.UnicodeScalarView(s.unicodeScalars.reversed()))) }
            let items = try v.iterate()
            switch v {
            case .array, .tuple: return .object(JinjaSequence(.reversed, items.reversed()))
            default: return .array(items.reversed())
            }
        case "items":
            return lazily { (out: inout [JinjaValue]) throws(TokenizerError) in
                if v.isUndefined { return }
                guard case .dict(let d) = v else { throw TokenizerError("chat template: Can only get item pairs from a mapping.") }
                out = d.map { .tuple([JinjaKey.decode($0.0), $0.1]) }
            }
        case "dictsort":
            let a = try bind(["case_sensitive", "by", "reverse"], [.bool(false), .string("key"), .bool(false)])
            guard case .dict(let d) = v else { throw TokenizerError("chat template: dictsort needs a mapping, got \(v.typeName)") }
            let byValue: Bool
            switch a[1].pythonString {
            case "key": byValue = false
            case "value": byValue = true
            default: throw TokenizerError("chat template: You can only sort by either \"key\" or \"value\"")
            }
            let pairs = d.map { JinjaValue.tuple([JinjaKey.decode($0.0), $0.1]) }
            let sorted = try sortValues(pairs, reverse: a[2].truthy) { (p) throws(TokenizerError) -> JinjaValue in
                guard case .tuple(let t) = p else { return p }
                return ignoreCase(byValue ? t[1] : t[0], a[0].truthy)
            }
            return .array(sorted)
        case "sort":
            let a = try bind(["reverse", "case_sensitive", "attribute"], [.bool(false), .bool(false), JinjaValue.none])
            let items = try v.iterate()
            let attributes: [JinjaValue] = a[2].isNone ? [] : (a[2].stringValue.map { $0.split(separator: ",").map { JinjaValue.string(String($0)) } } ?? [a[2]])
            return .array(try sortValues(items, reverse: a[0].truthy) { (x) throws(TokenizerError) -> JinjaValue in
                if attributes.isEmpty { return ignoreCase(x, a[1].truthy) }
                let keys = try attributes.map { (attr) throws(TokenizerError) in ignoreCase(try attribute(x, attr, r), a[1].truthy) }
                return keys.count == 1 ? keys[0] : .array(keys)
            })
        case "unique":
            let a = try bind(["case_sensitive", "attribute"], [.bool(false), JinjaValue.none])
            return lazily { (out: inout [JinjaValue]) throws(TokenizerError) in
                var seen: [JinjaValue] = []
                for x in try v.iterate() {
                    let key = ignoreCase(a[1].isNone ? x : try attribute(x, a[1], r), a[0].truthy)
                    switch key {
                    case .array, .dict: throw TokenizerError("chat template: unhashable type: '\(key.typeName)'")
                    default: break
                    }
                    if !seen.contains(key) {
                        seen.append(key)
                        out.append(x)
                    }
                }
            }
        case "min", "max":
            let a = try bind(["case_sensitive", "attribute"], [.bool(false), JinjaValue.none])
            var best: (JinjaValue, JinjaValue)?
            for x in try v.iterate() {
                let key = ignoreCase(a[1].isNone ? x : try attribute(x, a[1], r), a[0].truthy)
                if let (_, bk) = best {
                    let c = try JinjaOperators.order(key, bk, .lt)
                    if name == "min" ? c < 0 : c > 0 { best = (x, key) }
                } else {
                    best = (x, key)
                }
            }
            return best?.0 ?? .undefined
        case "sum":
            let a = try bind(["attribute", "start"], [JinjaValue.none, .int(0)])
            var total = a[1]
            for x in try v.iterate() {
                total = try JinjaOperators.binary(.add, total, a[0].isNone ? x : try attribute(x, a[0], r))
            }
            return total
        case "abs":
            guard let n = v.numeric else { throw TokenizerError("chat template: bad operand type for abs(): '\(v.typeName)'") }
            switch n {
            case .int(let i):
                guard i != .min else { throw JinjaNumber.overflow("abs") }
                return .int(Swift.abs(i))
            case .double(let d): return .double(Swift.abs(d))
            }
        case "round": return try round(v, try bind(["precision", "method"], [.int(0), .string("common")]))
        case "int":
            if v.isUndefined { throw TokenizerError("chat template: int() of an undefined value") }
            let a = try bind(["default", "base"], [.int(0), .int(10)])
            return toInt(v, base: JinjaAccess.intIndex(a[1]) ?? 10) ?? a[0]
        case "float":
            if v.isUndefined { throw TokenizerError("chat template: float() of an undefined value") }
            let a = try bind(["default"], [.double(0)])
            return toFloat(v).map { .double($0) } ?? a[0]
        case "attr":
            let a = try bind(["name"], [nil])
            if case .undefined = v { throw TokenizerError("chat template: attribute of an undefined value") }
            guard let n = a[0].stringValue else { return .undefined }
            if JinjaMethods.has(v, n) { return .object(JinjaBoundMethod(v, n)) }
            if case .object(let o) = v { return try o.attribute(n, r) ?? .undefined }
            return .undefined
        case "map": return lazily { (out: inout [JinjaValue]) throws(TokenizerError) in out = try map(v, args, r) }
        case "select", "reject":
            return lazily { (out: inout [JinjaValue]) throws(TokenizerError) in try select(v, args, r, attributeMode: false, keep: name == "select", into: &out) }
        case "selectattr", "rejectattr":
            return lazily { (out: inout [JinjaValue]) throws(TokenizerError) in try select(v, args, r, attributeMode: true, keep: name == "selectattr", into: &out) }
        case "batch":
            let a = try bind(["linecount", "fill_with"], [nil, JinjaValue.none])
            guard let n = JinjaAccess.intIndex(a[0]), n > 0 else { throw TokenizerError("chat template: batch needs a positive count") }
            guard n <= JinjaOperators.maxListSize else { throw TokenizerError("chat template: batch size is too large") }
            return lazily { (out: inout [JinjaValue]) throws(TokenizerError) in
                var row: [JinjaValue] = []
                for x in try v.iterate() {
                    if row.count == n {
                        out.append(.array(row))
                        row = []
                    }
                    row.append(x)
                }
                if !row.isEmpty {
                    if !a[1].isNone { while row.count < n { row.append(a[1]) } }
                    out.append(.array(row))
                }
            }
        case "slice":
            let a = try bind(["slices", "fill_with"], [nil, JinjaValue.none])
            guard let slices = JinjaAccess.intIndex(a[0]), slices > 0 else { throw TokenizerError("chat template: slice needs a positive count") }
            return lazily { (out: inout [JinjaValue]) throws(TokenizerError) in
                let seq = try v.iterate()
                let perSlice = seq.count / slices, withExtra = seq.count % slices
                var offset = 0
                for k in 0..<min(slices, 1_000_000) {
                    let start = offset + k * perSlice
                    if k < withExtra { offset += 1 }
                    let end = offset + (k + 1) * perSlice
                    var part = Array(seq[min(start, seq.count)..<min(max(end, start), seq.count)])
                    if !a[1].isNone && k >= withExtra { part.append(a[1]) }
                    out.append(.array(part))
                }
            }
        case "tojson":
            let a = try bind(["ensure_ascii", "indent", "separators", "sort_keys"], [.bool(false), JinjaValue.none, JinjaValue.none, .bool(false)])
            var indent: String?
            switch a[1] {
            case .none: indent = nil
            case .int(let n): indent = String(repeating: " ", count: max(0, min(n, 1000)))
            case .string(let s), .safe(let s): indent = s
            default: throw TokenizerError("chat template: tojson indent must be an integer or a string")
            }
            var separators: (String, String)?
            if !a[2].isNone {
                let parts = try a[2].iterate()
                guard parts.count == 2, let x = parts[0].stringValue, let y = parts[1].stringValue else {
                    throw TokenizerError("chat template: tojson separators must be two strings")
                }
                separators = (x, y)
            }
            return .string(try v.json(ensureASCII: a[0].truthy, indent: indent, separators: separators, sortKeys: a[3].truthy))
        case "from_json":
            guard let s = v.stringValue else { throw TokenizerError("chat template: from_json needs a string, got \(v.typeName)") }
            return try JinjaValue(jsonText: s)
        default:
            throw TokenizerError("chat template: filter '\(name)' is not supported")
        }
    }

    /// jinja2's `title` filter: capitalizes after spaces, dashes and opening brackets (not str.title()).
    static func title(_ s: String) -> String {
        var out = ""
        var atWordStart = true
        for u in s.unicodeScalars {
            let boundary = Python.isSpace(u) || "-([{<".unicodeScalars.contains(u)
            if boundary {
                out.unicodeScalars.append(u)
                atWordStart = true
            } else if atWordStart {
                out += String(u).uppercased()
                atWordStart = false
            } else {
                out += String(u).lowercased()
            }
        }
        return out
    }

    static func ignoreCase(_ v: JinjaValue, _ caseSensitive: Bool) -> JinjaValue {
        if !caseSensitive, let s = v.stringValue { return .string(s.lowercased()) }
        return v
    }

    /// Python's sorted(): stable, by a key, comparison errors surface.
    static func sortValues(_ items: [JinjaValue], reverse: Bool, key: (JinjaValue) throws(TokenizerError) -> JinjaValue) throws(TokenizerError) -> [JinjaValue] {
        var keyed: [(JinjaValue, JinjaValue, Int)] = []
        for (i, x) in items.enumerated() { keyed.append((try key(x), x, i)) }
        // Insertion-merge sort with a throwing comparator: Swift's sort cannot throw typed errors.
        var failure: TokenizerError?
        keyed.sort { a, b in
            if failure != nil { return a.2 < b.2 }
            do {
                let c = try JinjaOperators.order(a.0, b.0, .lt)
                if c != 0 { return reverse ? c > 0 : c < 0 }
            } catch let e as TokenizerError {
                failure = e
            } catch {
                failure = TokenizerError("chat template: \(error)")
            }
            return a.2 < b.2
        }
        if let failure { throw failure }
        return keyed.map { $0.1 }
    }

    /// make_attrgetter: "a.b.0" walks items (then attributes), integer parts index.
    static func attribute(_ v: JinjaValue, _ path: JinjaValue, _ r: JinjaRenderer) throws(TokenizerError) -> JinjaValue {
        guard let p = path.stringValue else { return try JinjaAccess.item(v, path, r) }
        var current = v
        for part in p.split(separator: ".", omittingEmptySubsequences: false) {
            if case .undefined = current { throw TokenizerError("chat template: attribute '\(part)' of an undefined value") }
            let key: JinjaValue = Int(part).map { .int($0) } ?? .string(String(part))
            current = try JinjaAccess.item(current, key, r)
        }
        return current
    }

    private static func map(_ v: JinjaValue, _ args: JinjaArguments, _ r: JinjaRenderer) throws(TokenizerError) -> [JinjaValue] {
        guard v.truthy else { return [] }  // jinja2: `if value:`
        let items = try v.iterate()
        if args.positional.isEmpty, let attr = args.keyword.first(where: { $0.0 == "attribute" })?.1 {
            let dflt = args.keyword.first(where: { $0.0 == "default" })?.1
            return try items.map { (x) throws(TokenizerError) in
                let value = try attribute(x, attr, r)
                if case .undefined = value, let dflt { return dflt }
                return value
            }
        }
        guard let filterName = args.positional.first?.stringValue else { throw TokenizerError("chat template: map requires a filter argument") }
        guard names.contains(filterName) else { throw TokenizerError("chat template: filter '\(filterName)' is not supported") }
        let rest = JinjaArguments(Array(args.positional.dropFirst()), args.keyword)
        return try items.map { (x) throws(TokenizerError) in try apply(filterName, x, rest, r) }
    }

    /// jinja2's generator filters do their work only when iterated, so an error surfaces then (or never).
    static func lazily(_ body: (inout [JinjaValue]) throws(TokenizerError) -> Void) -> JinjaValue {
        var out: [JinjaValue] = []
        do {
            try body(&out)
            return .object(JinjaSequence(.generator, out))
        } catch {
            return .object(JinjaSequence(.generator, out, deferredError: error))
        }
    }

    private static func select(_ v: JinjaValue, _ args: JinjaArguments, _ r: JinjaRenderer, attributeMode: Bool, keep: Bool, into out: inout [JinjaValue]) throws(TokenizerError) {
        var positional = args.positional
        var attr: JinjaValue?
        if attributeMode {
            guard !positional.isEmpty else { throw TokenizerError("chat template: missing parameter for attribute name") }
            attr = positional.removeFirst()
        }
        let testName = positional.first?.stringValue
        if testName != nil { positional.removeFirst() }
        if let testName, !JinjaTests.names.contains(testName) { throw TokenizerError("chat template: test '\(testName)' is not supported") }
        let testArgs = JinjaArguments(positional, args.keyword)
        guard v.truthy else { return }  // jinja2: `if value:`
        for x in try v.iterate() {
            try r.step()
            let subject = try attr.map { (a) throws(TokenizerError) in try attribute(x, a, r) } ?? x
            let passed = try testName.map { (t) throws(TokenizerError) in try JinjaTests.apply(t, subject, testArgs, r) } ?? subject.truthy
            if passed == keep { out.append(x) }
        }
    }

    private static func truncate(_ v: JinjaValue, _ a: [JinjaValue]) throws(TokenizerError) -> JinjaValue {
        guard v.isString else {
            guard let n = v.length else { throw TokenizerError("chat template: object of type '\(v.typeName)' has no len()") }
            let length = JinjaAccess.intIndex(a[0]) ?? 255, leeway = a[3].isNone ? 5 : (JinjaAccess.intIndex(a[3]) ?? 5)
            if n <= length + leeway { return v }
            throw TokenizerError("chat template: truncate needs a string, got \(v.typeName)")
        }
        let s = Array(v.pythonString.unicodeScalars)
        let length = JinjaAccess.intIndex(a[0]) ?? 255
        let end = a[2].pythonString
        let leeway = a[3].isNone ? 5 : (JinjaAccess.intIndex(a[3]) ?? 5)
        let endCount = end.unicodeScalars.count
        guard length >= endCount else { throw TokenizerError("chat template: expected length >= \(endCount), got \(length)") }
        guard leeway >= 0 else { throw TokenizerError("chat template: expected leeway >= 0, got \(leeway)") }
        if s.count <= length + leeway { return .string(v.pythonString) }
        let head = String(String.UnicodeScalarView(s.prefix(length - endCount)))
        if a[1].truthy { return .string(head + end) }
        let kept = JinjaStrings.rsplit(head, " ", 1).first ?? ""
        return .string(kept + end)
    }

    private static func indent(_ v: JinjaValue, _ a: [JinjaValue]) throws(TokenizerError) -> JinjaValue {
        guard let s0 = v.stringValue else {
            throw TokenizerError("chat template: unsupported operand type(s) for +=: '\(v.typeName)' and 'str'")
        }
        let indentation: String
        if let w = a[0].stringValue { indentation = w } else { indentation = String(repeating: " ", count: max(0, min(JinjaAccess.intIndex(a[0]) ?? 4, 100_000))) }
        let s = s0 + "\n"
        var lines = Python.splitlines(s)
        let (extra, o) = lines.count.multipliedReportingOverflow(by: indentation.utf8.count)
        if o || extra > JinjaOperators.maxRepeatedSize { throw TokenizerError("chat template: indent result is too large") }
        var rv: String
        if a[2].truthy {
            rv = lines.joined(separator: "\n" + indentation)
        } else {
            rv = lines.isEmpty ? "" : lines.removeFirst()
            if !lines.isEmpty {
                rv += "\n" + lines.map { $0.isEmpty ? $0 : indentation + $0 }.joined(separator: "\n")
            }
        }
        if a[1].truthy { rv = indentation + rv }
        return v.isSafe ? .safe(rv) : .string(rv)
    }

    private static func round(_ v: JinjaValue, _ a: [JinjaValue]) throws(TokenizerError) -> JinjaValue {
        guard let n = v.numeric else { throw TokenizerError("chat template: round needs a number, got \(v.typeName)") }
        let precision = JinjaAccess.intIndex(a[0]) ?? 0
        let method = a[1].pythonString
        guard ["common", "ceil", "floor"].contains(method) else { throw TokenizerError("chat template: method must be common, ceil or floor") }
        if method == "common" {
            if case .int(let i) = n, precision >= 0 { return .int(i) }
            let d = n.double
            guard d.isFinite else { return .double(d) }
            if precision > 300 { return .double(d) }
            if precision >= 0 {
                // printf rounds the exact binary value half-to-even, as CPython's round() does.
                let text = String(format: "%.\(precision)f", d)
                return .double(Double(text) ?? d)
            }
            let scale = pow10(-precision)
            return .double((d / scale).rounded(.toNearestOrEven) * scale)
        }
        let scale = pow10(precision)
        let d = n.double * scale
        return .double((method == "ceil" ? d.rounded(.up) : d.rounded(.down)) / scale)
    }

    static func pow10(_ n: Int) -> Double {
        var r = 1.0
        for _ in 0..<min(abs(n), 400) { r *= 10 }
        return n < 0 ? 1 / r : r
    }

    /// Python's int(str, base) with its whitespace, sign, underscores and prefixes; then int(float(value)).
    static func toInt(_ v: JinjaValue, base: Int) -> JinjaValue? {
        switch v {
        case .int: return v
        case .bool(let b): return .int(b ? 1 : 0)
        case .double(let d):
            guard d.isFinite, Swift.abs(d) < 9.2e18 else { return nil }
            return .int(Int(d))
        case .string(let s0), .safe(let s0):
            var s = Python.strip(s0, nil, left: true, right: true)
            var negative = false
            if s.hasPrefix("-") || s.hasPrefix("+") {
                negative = s.hasPrefix("-")
                s.removeFirst()
            }
            var radix = base
            let lower = s.lowercased()
            for (prefix, r) in [("0x", 16), ("0o", 8), ("0b", 2)] where lower.hasPrefix(prefix) && (base == r || base == 0) {
                radix = r
                s = String(s.dropFirst(2))
                if s.hasPrefix("_") { s.removeFirst() }
            }
            if radix == 0 { radix = 10 }
            if !s.isEmpty && !s.hasPrefix("_") && !s.hasSuffix("_") && !s.contains("__") && (2...36).contains(radix),
                let i = Int(s.replacingOccurrences(of: "_", with: ""), radix: radix)
            {
                return .int(negative ? -i : i)
            }
            if let d = toFloat(v), d.isFinite, Swift.abs(d) < 9.2e18 { return .int(Int(d)) }
            return nil
        default: return nil
        }
    }

    static func toFloat(_ v: JinjaValue) -> Double? {
        switch v {
        case .int(let i): return Double(i)
        case .bool(let b): return b ? 1 : 0
        case .double(let d): return d
        case .string(let s0), .safe(let s0):
            let s = Python.strip(s0, nil, left: true, right: true).lowercased()
            switch s {
            case "inf", "+inf", "infinity", "+infinity": return .infinity
            case "-inf", "-infinity": return -.infinity
            case "nan", "+nan", "-nan": return .nan
            default: break
            }
            guard !s.isEmpty, !s.hasPrefix("_"), !s.hasSuffix("_"), !s.contains("__"),
                s.unicodeScalars.allSatisfy({ "0123456789.eE+-_".unicodeScalars.contains($0) }) else { return nil }
            return Double(s.replacingOccurrences(of: "_", with: ""))
        default: return nil
        }
    }
}
