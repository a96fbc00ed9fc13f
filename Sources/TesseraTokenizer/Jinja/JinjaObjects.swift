import Foundation

/// `namespace(...)`: the one mutable object templates have (`{% set ns.x = … %}` works across loop frames).
/// transformers refuses underscore-prefixed names on it.
final class JinjaNamespace: JinjaObject, @unchecked Sendable {
    private(set) var attributes: [(String, JinjaValue)] = []

    override var typeName: String { "Namespace" }

    func set(_ name: String, _ value: JinjaValue) throws(TokenizerError) {
        if name.hasPrefix("_") {
            throw TokenizerError("chat template: Chat templates cannot store underscore-prefixed attributes on a namespace, but got \(Python.repr(name)). Please rename the attribute.")
        }
        if let i = attributes.firstIndex(where: { $0.0 == name }) { attributes[i].1 = value } else { attributes.append((name, value)) }
    }

    override func attribute(_ name: String, _ r: JinjaRenderer) throws(TokenizerError) -> JinjaValue? {
        attributes.first { $0.0 == name }?.1
    }

    override var pythonString: String { "<Namespace " + JinjaValue.dict(attributes).repr + ">" }
}

/// The `loop` variable of a for loop.
final class JinjaLoop: JinjaObject, @unchecked Sendable {
    let items: [JinjaValue]
    let depth: Int
    var index = 0
    /// Set for `{% for … recursive %}`: `loop(children)` renders the body again, one level deeper.
    let definition: JinjaForLoop?
    let scope: JinjaScope
    private var lastChanged: JinjaValue?

    init(items: [JinjaValue], depth: Int, definition: JinjaForLoop?, scope: JinjaScope) {
        self.items = items
        self.depth = depth
        self.definition = definition
        self.scope = scope
    }

    override var typeName: String { "LoopContext" }
    override var isCallable: Bool { true }
    override func iterate() -> [JinjaValue]? { items }
    override var pythonString: String { "<LoopContext \(index + 1)/\(items.count)>" }

    override func attribute(_ name: String, _ r: JinjaRenderer) throws(TokenizerError) -> JinjaValue? {
        let n = items.count
        switch name {
        case "index": return .int(index + 1)
        case "index0": return .int(index)
        case "revindex": return .int(n - index)
        case "revindex0": return .int(n - index - 1)
        case "first": return .bool(index == 0)
        case "last": return .bool(index == n - 1)
        case "length": return .int(n)
        case "depth": return .int(depth)
        case "depth0": return .int(depth - 1)
        case "previtem": return index > 0 ? items[index - 1] : .undefined
        case "nextitem": return index + 1 < n ? items[index + 1] : .undefined
        case "cycle", "changed": return .object(JinjaBoundMethod(.object(self), name))
        default: return nil
        }
    }

    func cycle(_ args: JinjaArguments) throws(TokenizerError) -> JinjaValue {
        guard !args.positional.isEmpty else { throw TokenizerError("chat template: no items for cycling given") }
        return args.positional[index % args.positional.count]
    }

    func changed(_ args: JinjaArguments) -> JinjaValue {
        let value = JinjaValue.array(args.positional)
        if let last = lastChanged, last == value { return .bool(false) }
        lastChanged = value
        return .bool(true)
    }

    override func call(_ args: JinjaArguments, _ r: JinjaRenderer) throws(TokenizerError) -> JinjaValue {
        guard let definition else { throw TokenizerError("chat template: the loop is not recursive ('recursive' is missing)") }
        guard args.positional.count == 1, args.keyword.isEmpty else {
            throw TokenizerError("chat template: loop() takes exactly one argument")
        }
        try r.enterCall()
        defer { r.callDepth -= 1 }
        let items = try r.loopItems(definition, args.positional[0])
        return .string(try r.capture { () throws(TokenizerError) in
            try r.runLoop(definition, items, depth: depth + 1, parent: scope)
        })
    }
}

/// A macro, or the `caller` of a call block.
final class JinjaMacro: JinjaObject, @unchecked Sendable {
    let definition: JinjaMacroDefinition
    let closure: JinjaScope

    init(_ definition: JinjaMacroDefinition, closure: JinjaScope) {
        self.definition = definition
        self.closure = closure
    }

    override var typeName: String { "Macro" }
    override var isCallable: Bool { true }
    override var pythonString: String { "<Macro '\(definition.name)'>" }

    override func attribute(_ name: String, _ r: JinjaRenderer) throws(TokenizerError) -> JinjaValue? {
        switch name {
        case "name": .string(definition.name)
        case "arguments": .tuple(definition.parameters.map { .string($0.0) })
        case "catch_kwargs": .bool(definition.usesKwargs)
        case "catch_varargs": .bool(definition.usesVarargs)
        case "caller": .bool(definition.usesCaller)
        default: nil
        }
    }

    override func call(_ args: JinjaArguments, _ r: JinjaRenderer) throws(TokenizerError) -> JinjaValue {
        let def = definition
        let params = def.parameters
        var vars: [String: JinjaValue] = [:]
        var given = Array(repeating: false, count: params.count)
        for (i, v) in args.positional.prefix(params.count).enumerated() {
            vars[params[i].0] = v
            given[i] = true
        }
        let extra = Array(args.positional.dropFirst(params.count))
        if !extra.isEmpty && !def.usesVarargs {
            throw TokenizerError("chat template: macro '\(def.name)' takes not more than \(params.count) argument(s)")
        }
        var kwargs: [(String, JinjaValue)] = []
        for (k, v) in args.keyword {
            if let i = params.firstIndex(where: { $0.0 == k }) {
                if given[i] { throw TokenizerError("chat template: macro '\(def.name)' got multiple values for argument '\(k)'") }
                vars[k] = v
                given[i] = true
            } else if k == "caller" && def.usesCaller {
                vars["caller"] = v
            } else if def.usesKwargs {
                kwargs.append((k, v))
            } else {
                throw TokenizerError("chat template: macro '\(def.name)' takes no keyword argument '\(k)'")
            }
        }
        if def.usesVarargs { vars["varargs"] = .tuple(extra) }
        if def.usesKwargs { vars["kwargs"] = .dict(kwargs) }
        if def.usesCaller && vars["caller"] == nil { vars["caller"] = .undefined }
        try r.enterCall()
        defer { r.callDepth -= 1 }
        return .string(try r.capture { () throws(TokenizerError) in
            try r.inScope(vars, parent: closure) { () throws(TokenizerError) in
                // Defaults are evaluated at call time, in the macro's frame (they may use earlier parameters).
                for (i, (name, dflt)) in params.enumerated() where !given[i] {
                    r.scope.vars[name] = try dflt.map { (d) throws(TokenizerError) in try r.eval(d) } ?? .undefined
                }
                _ = try r.render(def.body)
            }
        })
    }
}

/// A method of a value, read without calling it (`{% set f = s.upper %}`, `loop.cycle`).
final class JinjaBoundMethod: JinjaObject, @unchecked Sendable {
    let receiver: JinjaValue
    let name: String

    init(_ receiver: JinjaValue, _ name: String) {
        self.receiver = receiver
        self.name = name
    }

    override var typeName: String { "builtin_function_or_method" }
    override var isCallable: Bool { true }
    override var pythonString: String { "<built-in method \(name) of \(receiver.typeName) object>" }

    override func call(_ args: JinjaArguments, _ r: JinjaRenderer) throws(TokenizerError) -> JinjaValue {
        if case .object(let o) = receiver, let loop = o as? JinjaLoop {
            return name == "cycle" ? try loop.cycle(args) : loop.changed(args)
        }
        return try JinjaMethods.call(receiver, name, args, r)
    }
}

/// Lazy Python iterables that templates meet: generators (from `map`, `select` … — one pass, no len(), not JSON),
/// dict views (`items()`), ranges and reversed iterators.
final class JinjaSequence: JinjaObject, @unchecked Sendable {
    enum Kind {
        case generator, dictItems, dictKeys, dictValues, reversed
        case range(Int, Int, Int)

        var indexable: Bool { if case .range = self { true } else { false } }
    }

    let kind: Kind
    let items: [JinjaValue]
    /// A generator whose work failed: Python raises only when it is iterated (after yielding `items`).
    let deferredError: TokenizerError?
    private var consumed = false

    init(_ kind: Kind, _ items: [JinjaValue], deferredError: TokenizerError? = nil) {
        self.kind = kind
        self.items = items
        self.deferredError = deferredError
    }

    override var typeName: String {
        switch kind {
        case .generator: "generator"
        case .dictItems: "dict_items"
        case .dictKeys: "dict_keys"
        case .dictValues: "dict_values"
        case .reversed: "list_reverseiterator"
        case .range: "range"
        }
    }

    override func iterate() -> [JinjaValue]? {
        switch kind {
        case .generator, .reversed:
            if consumed { return [] }
            consumed = true
            return items
        default: return items
        }
    }

    override var length: Int? {
        switch kind {
        case .generator, .reversed: nil
        default: items.count
        }
    }

    override var pythonString: String {
        switch kind {
        case .dictItems, .dictKeys, .dictValues: typeName + "(" + JinjaValue.array(items).repr + ")"
        case .range(let a, let b, let s): s == 1 ? "range(\(a), \(b))" : "range(\(a), \(b), \(s))"
        default: "<\(typeName) object>"
        }
    }
}

/// `cycler(...)` and `joiner(...)`.
final class JinjaCycler: JinjaObject, @unchecked Sendable {
    let items: [JinjaValue]
    var position = 0

    init(_ items: [JinjaValue]) { self.items = items }

    override var typeName: String { "Cycler" }

    override func attribute(_ name: String, _ r: JinjaRenderer) throws(TokenizerError) -> JinjaValue? {
        switch name {
        case "current": return items.isEmpty ? .undefined : items[position]
        case "next", "reset": return .object(JinjaBuiltin(name == "next" ? "cycler.next" : "cycler.reset", self))
        default: return nil
        }
    }
}

final class JinjaJoiner: JinjaObject, @unchecked Sendable {
    let separator: String
    var used = false

    init(_ separator: String) { self.separator = separator }

    override var typeName: String { "Joiner" }
    override var isCallable: Bool { true }

    override func call(_ args: JinjaArguments, _ r: JinjaRenderer) throws(TokenizerError) -> JinjaValue {
        if !used {
            used = true
            return .string("")
        }
        return .string(separator)
    }
}
