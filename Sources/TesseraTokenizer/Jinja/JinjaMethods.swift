/// Methods templates call on Python values (`s.strip()`, `d.items()`, `l.index(x)`), with CPython's semantics.
/// transformers renders in an ImmutableSandboxedEnvironment: the methods that mutate a list or dict exist but
/// calling them is a SecurityError, so templates that `append` fail there and must fail here.
enum JinjaMethods {
    static let stringMethods: Set<String> = [
        "capitalize", "casefold", "center", "count", "endswith", "find", "format", "index", "isalnum", "isalpha",
        "isdecimal", "isdigit", "isnumeric", "islower", "isspace", "istitle", "isupper", "join", "ljust", "lower",
        "lstrip", "partition", "removeprefix", "removesuffix", "replace", "rfind", "rindex", "rjust", "rpartition",
        "rsplit", "rstrip", "split", "splitlines", "startswith", "strip", "swapcase", "title", "upper", "zfill",
    ]
    static let dictMethods: Set<String> = ["get", "items", "keys", "values", "copy"]
    static let dictUnsafe: Set<String> = ["pop", "popitem", "setdefault", "update", "clear"]
    static let listMethods: Set<String> = ["count", "index", "copy"]
    static let listUnsafe: Set<String> = ["append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear"]

    static func has(_ v: JinjaValue, _ name: String) -> Bool {
        switch v {
        case .string, .safe: stringMethods.contains(name)
        case .dict: dictMethods.contains(name) || dictUnsafe.contains(name)
        case .array: listMethods.contains(name) || listUnsafe.contains(name)
        case .tuple: name == "count" || name == "index"
        case .object(let o): (o as? JinjaSequence)?.kind.indexable == true && (name == "count" || name == "index")
        case .double: name == "is_integer"
        default: false
        }
    }

    static func call(_ v: JinjaValue, _ name: String, _ args: JinjaArguments, _ r: JinjaRenderer) throws(TokenizerError) -> JinjaValue {
        switch v {
        case .string(let s): return try stringMethod(s, name, args, safe: false)
        case .safe(let s): return try stringMethod(s, name, args, safe: true)
        case .dict(let d):
            if dictUnsafe.contains(name) { throw unsafe(name, "dict") }
            switch name {
            case "get":
                let a = try args.bind("get", ["key", "default"], [nil, JinjaValue.none])
                guard let k = JinjaKey.encode(a[0]) else { return a[1] }
                return d.first { $0.0 == k }?.1 ?? a[1]
            case "items": return .object(JinjaSequence(.dictItems, d.map { .tuple([JinjaKey.decode($0.0), $0.1]) }))
            case "keys": return .object(JinjaSequence(.dictKeys, d.map { JinjaKey.decode($0.0) }))
            case "values": return .object(JinjaSequence(.dictValues, d.map { $0.1 }))
            case "copy": return v
            default: break
            }
        case .object(let o) where o is JinjaSequence:
            return try call(.tuple((o as? JinjaSequence)?.items ?? []), name, args, r)
        case .array(let a), .tuple(let a):
            if case .array = v, listUnsafe.contains(name) { throw unsafe(name, "list") }
            switch name {
            case "count":
                let x = try args.bind("count", ["value"], [nil])[0]
                return .int(a.filter { $0 == x }.count)
            case "index":
                let x = try args.bind("index", ["value"], [nil])[0]
                guard let i = a.firstIndex(of: x) else { throw TokenizerError("chat template: \(x.repr) is not in list") }
                return .int(i)
            case "copy": return v
            default: break
            }
        case .double(let d) where name == "is_integer":
            return .bool(d.isFinite && d == d.rounded())
        default: break
        }
        throw TokenizerError("chat template: '\(v.typeName)' object has no method '\(name)'")
    }

    static func unsafe(_ name: String, _ type: String) -> TokenizerError {
        TokenizerError("chat template: access to attribute '\(name)' of '\(type)' object is unsafe.")
    }

    private static func str(_ v: JinjaValue, _ what: String) throws(TokenizerError) -> String {
        guard let s = v.stringValue else { throw TokenizerError("chat template: \(what) must be str, not \(v.typeName)") }
        return s
    }

    private static func optionalStr(_ v: JinjaValue, _ what: String) throws(TokenizerError) -> String? {
        if case .none = v { return nil }
        return try str(v, what)
    }

    private static func int(_ v: JinjaValue, _ what: String) throws(TokenizerError) -> Int {
        guard let i = JinjaAccess.intIndex(v) else { throw TokenizerError("chat template: \(what) must be an integer, not \(v.typeName)") }
        return i
    }

    static func stringMethod(_ s: String, _ name: String, _ args: JinjaArguments, safe: Bool) throws(TokenizerError) -> JinjaValue {
        func wrap(_ out: String) -> JinjaValue { safe ? .safe(out) : .string(out) }
        func wrapList(_ parts: [String]) -> JinjaValue { .array(parts.map(wrap)) }
        switch name {
        case "upper": return wrap(Python.upper(s))
        case "lower", "casefold": return wrap(Python.lower(s))
        case "title": return wrap(Python.title(s))
        case "capitalize": return wrap(Python.capitalize(s))
        case "swapcase":
            var out = ""
            for u in s.unicodeScalars {
                if u.properties.isUppercase { out += String(u).lowercased() } else if u.properties.isLowercase { out += String(u).uppercased() } else { out.unicodeScalars.append(u) }
            }
            return wrap(out)
        case "strip", "lstrip", "rstrip":
            let a = try args.bind(name, ["chars"], [JinjaValue.none])
            let chars = try optionalStr(a[0], "chars")
            return wrap(Python.strip(s, chars, left: name != "rstrip", right: name != "lstrip"))
        case "split", "rsplit":
            let a = try args.bind(name, ["sep", "maxsplit"], [JinjaValue.none, .int(-1)])
            let sep = try optionalStr(a[0], "sep")
            let maxsplit = try int(a[1], "maxsplit")
            if let sep, sep.isEmpty { throw TokenizerError("chat template: empty separator") }
            return wrapList(name == "split" ? JinjaStrings.split(s, sep, maxsplit) : JinjaStrings.rsplit(s, sep, maxsplit))
        case "splitlines":
            let a = try args.bind(name, ["keepends"], [.bool(false)])
            return wrapList(Python.splitlines(s, keepends: a[0].truthy))
        case "startswith", "endswith":
            guard let first = args.positional.first else { throw TokenizerError("chat template: \(name)() takes at least 1 argument") }
            var candidates: [String] = []
            switch first {
            case .tuple(let items):
                for item in items { candidates.append(try str(item, "\(name) first arg")) }
            default: candidates = [try str(first, "\(name) first arg")]
            }
            var scalars = Array(s.unicodeScalars)
            if args.positional.count > 1 {
                let start = try JinjaStrings.clampIndex(args.positional[1], scalars.count, 0)
                let end = args.positional.count > 2 ? try JinjaStrings.clampIndex(args.positional[2], scalars.count, scalars.count) : scalars.count
                scalars = start <= end ? Array(scalars[start..<end]) : []
                if start > Array(s.unicodeScalars).count { return .bool(false) }
            }
            for c in candidates {
                let cs = Array(c.unicodeScalars)
                if name == "startswith" ? scalars.starts(with: cs) : scalars.reversed().starts(with: cs.reversed()) { return .bool(true) }
            }
            return .bool(false)
        case "find", "rfind", "index", "rindex", "count":
            guard let first = args.positional.first else { throw TokenizerError("chat template: \(name)() takes at least 1 argument") }
            let sub = Array(try str(first, "substring").unicodeScalars)
            let all = Array(s.unicodeScalars)
            let start = args.positional.count > 1 ? try JinjaStrings.clampIndex(args.positional[1], all.count, 0) : 0
            let end = args.positional.count > 2 ? try JinjaStrings.clampIndex(args.positional[2], all.count, all.count) : all.count
            if name == "count" {
                guard start <= end else { return .int(0) }
                return .int(JinjaStrings.count(Array(all[start..<end]), sub))
            }
            var found = -1
            if start <= end && end - start >= sub.count {
                let hay = Array(all[start..<end])
                let positions = name.hasPrefix("r") ? Array(stride(from: hay.count - sub.count, through: 0, by: -1)) : Array(0...(hay.count - sub.count))
                for p in positions where hay[p..<(p + sub.count)].elementsEqual(sub) {
                    found = p + start
                    break
                }
            }
            if found < 0 && name.hasSuffix("index") { throw TokenizerError("chat template: substring not found") }
            return .int(found)
        case "replace":
            let a = try args.bind(name, ["old", "new", "count"], [nil, nil, .int(-1)])
            return try JinjaOperators.checkSize(wrap(JinjaStrings.replace(s, try str(a[0], "old"), try str(a[1], "new"), try int(a[2], "count"))))
        case "join":
            let a = try args.bind(name, ["iterable"], [nil])
            var parts: [String] = []
            for item in try a[0].iterate() {
                guard let p = item.stringValue else {
                    throw TokenizerError("chat template: sequence item \(parts.count): expected str instance, \(item.typeName) found")
                }
                parts.append(safe && !(item.isSafe) ? Python.escapeHTML(p) : p)
            }
            let total = parts.reduce(0) { $0 &+ $1.utf8.count } &+ parts.count &* s.utf8.count
            if total > JinjaOperators.maxRepeatedSize || total < 0 { throw TokenizerError("chat template: join result is too large") }
            return wrap(parts.joined(separator: s))
        case "center", "ljust", "rjust":
            let a = try args.bind(name, ["width", "fillchar"], [nil, .string(" ")])
            let width = try int(a[0], "width")
            guard width <= JinjaOperators.maxRepeatedSize else { throw TokenizerError("chat template: \(name) width is too large") }
            let fill = try str(a[1], "fillchar")
            guard fill.unicodeScalars.count == 1 else { throw TokenizerError("chat template: the fill character must be exactly one character long") }
            return wrap(JinjaStrings.pad(s, width, fill, name))
        case "zfill":
            let width = try int(try args.bind(name, ["width"], [nil])[0], "width")
            guard width <= JinjaOperators.maxRepeatedSize else { throw TokenizerError("chat template: zfill width is too large") }
            var scalars = Array(s.unicodeScalars)
            guard width > scalars.count else { return wrap(s) }
            var sign: [Unicode.Scalar] = []
            if let f = scalars.first, f == "+" || f == "-" { sign = [f]; scalars.removeFirst() }
            let zeros = [Unicode.Scalar](repeating: "0", count: width - scalars.count - sign.count)
            return wrap(String(String.UnicodeScalarView(sign + zeros + scalars)))
        case "partition", "rpartition":
            let sep = try str(try args.bind(name, ["sep"], [nil])[0], "sep")
            if sep.isEmpty { throw TokenizerError("chat template: empty separator") }
            let parts = name == "partition" ? JinjaStrings.split(s, sep, 1) : JinjaStrings.rsplit(s, sep, 1)
            if parts.count == 2 { return .tuple([wrap(parts[0]), wrap(sep), wrap(parts[1])]) }
            return name == "partition" ? .tuple([wrap(s), wrap(""), wrap("")]) : .tuple([wrap(""), wrap(""), wrap(s)])
        case "removeprefix", "removesuffix":
            let x = Array(try str(try args.bind(name, ["affix"], [nil])[0], "affix").unicodeScalars)
            let all = Array(s.unicodeScalars)
            if name == "removeprefix", all.starts(with: x) { return wrap(String(String.UnicodeScalarView(all[x.count...]))) }
            if name == "removesuffix", !x.isEmpty, all.reversed().starts(with: x.reversed()) {
                return wrap(String(String.UnicodeScalarView(all[..<(all.count - x.count)])))
            }
            return wrap(s)
        case "format":
            let out = try JinjaFormat.format(s, args)
            return wrap(out)
        case "isdigit", "isdecimal", "isnumeric", "isalpha", "isalnum", "isspace", "islower", "isupper", "istitle":
            return .bool(JinjaStrings.classify(s, name))
        default:
            throw TokenizerError("chat template: 'str' object has no method '\(name)'")
        }
    }
}

extension JinjaValue {
    var isSafe: Bool { if case .safe = self { true } else { false } }
}

/// CPython's str algorithms that Swift's String has no exact equivalent of.
enum JinjaStrings {
    static func clampIndex(_ v: JinjaValue, _ count: Int, _ dflt: Int) throws(TokenizerError) -> Int {
        if case .none = v { return dflt }
        guard var i = JinjaAccess.intIndex(v) else { throw TokenizerError("chat template: slice indices must be integers") }
        if i < 0 { i = max(0, i + count) }
        return min(i, count)
    }

    static func count(_ hay: [Unicode.Scalar], _ sub: [Unicode.Scalar]) -> Int {
        if sub.isEmpty { return hay.count + 1 }
        var n = 0, i = 0
        while i + sub.count <= hay.count {
            if hay[i..<(i + sub.count)].elementsEqual(sub) {
                n += 1
                i += sub.count
            } else {
                i += 1
            }
        }
        return n
    }

    static func replace(_ s: String, _ old: String, _ new: String, _ limit: Int) -> String {
        let hay = Array(s.unicodeScalars), o = Array(old.unicodeScalars)
        var remaining = limit < 0 ? Int.max : limit
        var out = String.UnicodeScalarView()
        let newCount = new.unicodeScalars.count
        var produced = 0  // scalars in `out` (its count is O(n))
        if o.isEmpty {
            // Python inserts `new` before every character and at the end.
            for u in hay {
                if remaining > 0 { out.append(contentsOf: new.unicodeScalars); remaining -= 1; produced += newCount }
                out.append(u)
                produced += 1
                if produced > JinjaOperators.maxRepeatedSize { break }
            }
            if remaining > 0 { out.append(contentsOf: new.unicodeScalars) }
            return String(out)
        }
        var i = 0
        while i < hay.count {
            if produced > JinjaOperators.maxRepeatedSize { break }  // refused by the caller's size check
            if remaining > 0 && i + o.count <= hay.count && hay[i..<(i + o.count)].elementsEqual(o) {
                out.append(contentsOf: new.unicodeScalars)
                produced += newCount
                i += o.count
                remaining -= 1
            } else {
                out.append(hay[i])
                produced += 1
                i += 1
            }
        }
        return String(out)
    }

    static func split(_ s: String, _ sep: String?, _ maxsplit: Int) -> [String] {
        let hay = Array(s.unicodeScalars)
        var parts: [String] = []
        var remaining = maxsplit < 0 ? Int.max : maxsplit
        guard let sep else {
            var i = 0
            while true {
                while i < hay.count && Python.isSpace(hay[i]) { i += 1 }
                if i >= hay.count { break }
                if remaining == 0 {
                    parts.append(String(String.UnicodeScalarView(hay[i...])))
                    break
                }
                let start = i
                while i < hay.count && !Python.isSpace(hay[i]) { i += 1 }
                parts.append(String(String.UnicodeScalarView(hay[start..<i])))
                remaining -= 1
            }
            return parts
        }
        let o = Array(sep.unicodeScalars)
        var start = 0, i = 0
        while i + o.count <= hay.count && remaining > 0 {
            if hay[i..<(i + o.count)].elementsEqual(o) {
                parts.append(String(String.UnicodeScalarView(hay[start..<i])))
                i += o.count
                start = i
                remaining -= 1
            } else {
                i += 1
            }
        }
        parts.append(String(String.UnicodeScalarView(hay[start...])))
        return parts
    }

    static func rsplit(_ s: String, _ sep: String?, _ maxsplit: Int) -> [String] {
        let hay = Array(s.unicodeScalars)
        var parts: [String] = []
        var remaining = maxsplit < 0 ? Int.max : maxsplit
        guard let sep else {
            var i = hay.count
            while true {
                while i > 0 && Python.isSpace(hay[i - 1]) { i -= 1 }
                if i == 0 { break }
                if remaining == 0 {
                    parts.append(String(String.UnicodeScalarView(hay[..<i])))
                    break
                }
                let end = i
                while i > 0 && !Python.isSpace(hay[i - 1]) { i -= 1 }
                parts.append(String(String.UnicodeScalarView(hay[i..<end])))
                remaining -= 1
            }
            return parts.reversed()
        }
        let o = Array(sep.unicodeScalars)
        var end = hay.count, i = hay.count - o.count
        while i >= 0 && remaining > 0 {
            if hay[i..<(i + o.count)].elementsEqual(o) {
                parts.append(String(String.UnicodeScalarView(hay[(i + o.count)..<end])))
                end = i
                i -= o.count
                remaining -= 1
            } else {
                i -= 1
            }
        }
        parts.append(String(String.UnicodeScalarView(hay[..<end])))
        return parts.reversed()
    }

    /// str.center/ljust/rjust (CPython puts the odd extra space of center on the left when the width is odd).
    static func pad(_ s: String, _ width: Int, _ fill: String, _ how: String) -> String {
        let n = s.unicodeScalars.count
        guard width > n else { return s }
        let total = width - n
        let left: Int
        switch how {
        case "ljust": left = 0
        case "rjust": left = total
        default: left = total / 2 + (total & width & 1)
        }
        return String(repeating: fill, count: left) + s + String(repeating: fill, count: total - left)
    }

    static func classify(_ s: String, _ test: String) -> Bool {
        let scalars = Array(s.unicodeScalars)
        switch test {
        case "islower": return Python.isLower(s)
        case "isupper": return Python.isUpper(s)
        case "istitle":
            var cased = false, previousCased = false
            for u in scalars {
                let p = u.properties
                if p.isUppercase || (p.generalCategory == .titlecaseLetter) {
                    if previousCased { return false }
                    previousCased = true
                    cased = true
                } else if p.isLowercase {
                    if !previousCased { return false }
                    previousCased = true
                    cased = true
                } else {
                    previousCased = false
                }
            }
            return cased
        default: break
        }
        guard !scalars.isEmpty else { return false }
        return scalars.allSatisfy { u in
            let p = u.properties
            switch test {
            case "isdecimal": return p.generalCategory == .decimalNumber
            case "isdigit": return p.numericType == .decimal || p.numericType == .digit
            case "isnumeric": return p.numericType != nil
            case "isalpha": return isAlpha(u)
            case "isalnum": return isAlpha(u) || p.numericType != nil
            case "isspace": return Python.isSpace(u)
            default: return false
            }
        }
    }

    static func isAlpha(_ u: Unicode.Scalar) -> Bool {
        switch u.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: true
        default: false
        }
    }
}
