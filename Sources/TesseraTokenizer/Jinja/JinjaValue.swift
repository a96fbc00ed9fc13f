/// A value inside a chat template, with Python's semantics (what jinja2 operates on): ints and floats stay apart,
/// dicts keep insertion order, strings are sequences of code points.
public indirect enum JinjaValue: Sendable {
    /// A name that has no value (jinja2's `Undefined`): prints as "", is false, iterates as empty.
    case undefined
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    /// A string marked safe (jinja2's `Markup`, from `|safe` or `|escape`): `+` and `%` escape the other operand.
    case safe(String)
    case array([JinjaValue])
    /// Python tuples print with parentheses and never equal lists.
    case tuple([JinjaValue])
    /// Keys keep their insertion order, as Python dicts do.
    case dict([(String, JinjaValue)])
    /// Namespaces, loops, macros, functions, generators: things that live only while a template renders.
    case object(JinjaObject)
}

/// Base of the values that exist only during a render. Subclasses override what they support.
public class JinjaObject: @unchecked Sendable {
    /// Python's type name, used in error messages and `repr`.
    var typeName: String { "object" }
    /// `obj.name` (nil: no such attribute).
    func attribute(_ name: String, _ r: JinjaRenderer) throws(TokenizerError) -> JinjaValue? { nil }
    /// `obj(...)`.
    func call(_ args: JinjaArguments, _ r: JinjaRenderer) throws(TokenizerError) -> JinjaValue {
        throw TokenizerError("chat template: '\(typeName)' object is not callable")
    }
    var isCallable: Bool { false }
    /// The items when iterated (nil: not iterable).
    func iterate() -> [JinjaValue]? { nil }
    /// `len(obj)` (nil: no length).
    var length: Int? { nil }
    /// Python's str() of it.
    var pythonString: String { "<\(typeName) object>" }
}

/// Positional and keyword arguments of a call, evaluated.
struct JinjaArguments {
    var positional: [JinjaValue] = []
    var keyword: [(String, JinjaValue)] = []

    init(_ positional: [JinjaValue] = [], _ keyword: [(String, JinjaValue)] = []) {
        self.positional = positional
        self.keyword = keyword
    }

    /// Binds to a Python-style signature: each name by position or keyword, else its default; extra arguments fail.
    func bind(_ function: String, _ names: [String], _ defaults: [JinjaValue?]) throws(TokenizerError) -> [JinjaValue] {
        guard positional.count <= names.count else {
            throw TokenizerError("chat template: \(function)() takes at most \(names.count) arguments (\(positional.count) given)")
        }
        var out: [JinjaValue?] = Array(repeating: nil, count: names.count)
        for (i, v) in positional.enumerated() { out[i] = v }
        for (k, v) in keyword {
            guard let i = names.firstIndex(of: k) else {
                throw TokenizerError("chat template: \(function)() got an unexpected keyword argument '\(k)'")
            }
            guard out[i] == nil else { throw TokenizerError("chat template: \(function)() got multiple values for argument '\(k)'") }
            out[i] = v
        }
        var result: [JinjaValue] = []
        result.reserveCapacity(names.count)
        for i in 0..<names.count {
            if let v = out[i] { result.append(v) } else if let d = defaults[i] { result.append(d) } else {
                throw TokenizerError("chat template: \(function)() missing required argument '\(names[i])'")
            }
        }
        return result
    }
}

extension JinjaValue {
    /// Python truthiness.
    var truthy: Bool {
        switch self {
        case .undefined, .none: false
        case .bool(let b): b
        case .int(let i): i != 0
        case .double(let d): d != 0
        case .string(let s), .safe(let s): !s.isEmpty
        case .array(let a), .tuple(let a): !a.isEmpty
        case .dict(let d): !d.isEmpty
        case .object(let o): o.length.map { $0 > 0 } ?? true
        }
    }

    /// Python's type name, as its error messages say it.
    var typeName: String {
        switch self {
        case .undefined: "Undefined"
        case .none: "NoneType"
        case .bool: "bool"
        case .int: "int"
        case .double: "float"
        case .string: "str"
        case .safe: "Markup"
        case .array: "list"
        case .tuple: "tuple"
        case .dict: "dict"
        case .object(let o): o.typeName
        }
    }

    var isString: Bool {
        switch self { case .string, .safe: true; default: false }
    }

    /// The text of a str or Markup.
    var stringValue: String? {
        switch self { case .string(let s), .safe(let s): s; default: nil }
    }

    var isUndefined: Bool { if case .undefined = self { true } else { false } }
    var isNone: Bool { if case .none = self { true } else { false } }

    /// The members when iterated as Python does (dict: keys; str: characters); nil when not iterable.
    func iterated() -> [JinjaValue]? {
        switch self {
        case .undefined: []
        case .array(let a), .tuple(let a): a
        case .dict(let d): d.map { JinjaKey.decode($0.0) }
        case .string(let s): s.unicodeScalars.map { .string(String($0)) }
        case .safe(let s): s.unicodeScalars.map { .string(String($0)) }  // str.__iter__ yields plain str
        case .object(let o): o.iterate()
        default: nil
        }
    }

    func iterate() throws(TokenizerError) -> [JinjaValue] {
        if case .object(let o) = self, let seq = o as? JinjaSequence, let e = seq.deferredError { throw e }
        guard let items = iterated() else { throw TokenizerError("chat template: '\(typeName)' object is not iterable") }
        return items
    }

    /// Python's len().
    var length: Int? {
        switch self {
        case .undefined: 0
        case .string(let s), .safe(let s): s.unicodeScalars.count
        case .array(let a), .tuple(let a): a.count
        case .dict(let d): d.count
        case .object(let o): o.length
        default: nil
        }
    }

    /// A dict's value for `key`.
    func lookup(_ key: String) -> JinjaValue? {
        if case .dict(let d) = self {
            let key = JinjaKey.escape(key)
            for (k, v) in d where k == key { return v }
        }
        return nil
    }

    /// Subscript by a string key, as templates read message fields (`.undefined` when absent).
    public subscript(key: String) -> JinjaValue { lookup(key) ?? .undefined }
}

extension JinjaValue: Equatable {
    /// Python's `==`: numbers compare by value across int/float/bool, dicts ignore order, lists never equal tuples.
    public static func == (a: JinjaValue, b: JinjaValue) -> Bool {
        switch (a, b) {
        case (.undefined, .undefined), (.none, .none): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.string(let x), .string(let y)), (.string(let x), .safe(let y)), (.safe(let x), .string(let y)),
            (.safe(let x), .safe(let y)):
            // Python compares code points; Swift's == would equate canonically equivalent strings.
            return x.unicodeScalars.elementsEqual(y.unicodeScalars)
        case (.array(let x), .array(let y)), (.tuple(let x), .tuple(let y)): return x == y
        case (.dict(let x), .dict(let y)):
            guard x.count == y.count else { return false }
            for (k, v) in x {
                guard let w = b.lookup(k), v == w else { return false }
            }
            return true
        case (.object(let x), .object(let y)): return x === y
        default:
            if let x = a.numeric, let y = b.numeric { return JinjaNumber.equal(x, y) }
            return false
        }
    }
}

extension JinjaValue: ExpressibleByStringLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByArrayLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(arrayLiteral elements: JinjaValue...) { self = .array(elements) }
    public init(nilLiteral: ()) { self = .none }
}

/// Dict keys are Strings; the rare non-string key a template writes (`{0: 0, 512: 128}`) is stored under a reserved
/// prefix so it still prints, sorts and looks up as the int it is. A real string starting with the prefix is
/// escaped by doubling it.
enum JinjaKey {
    static let marker = "\u{E000}"

    static func escape(_ s: String) -> String { s.hasPrefix(marker) ? marker + s : s }

    static func encode(_ v: JinjaValue) -> String? {
        switch v {
        case .string(let s), .safe(let s): return escape(s)
        case .int(let i): return marker + "i" + String(i)
        case .bool(let b): return marker + "i" + (b ? "1" : "0")
        case .double(let d):
            if d == d.rounded(), abs(d) < 9.2e18 { return marker + "i" + String(Int(d)) }
            return marker + "f" + JinjaNumber.repr(d)
        case .none: return marker + "n"
        default: return nil
        }
    }

    static func decode(_ k: String) -> JinjaValue {
        guard k.hasPrefix(marker) else { return .string(k) }
        let rest = k.dropFirst(marker.count)
        if rest.hasPrefix(marker) { return .string(String(rest)) }
        switch rest.first {
        case "i": return .int(Int(rest.dropFirst()) ?? 0)
        case "f": return .double(Double(rest.dropFirst()) ?? 0)
        case "n": return .none
        default: return .string(k)
        }
    }
}
