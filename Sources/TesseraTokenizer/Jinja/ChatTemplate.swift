/// A chat template (the Jinja subset that chat templates use), parsed once and rendered per request.
/// Anything outside the subset is a clear `TokenizerError` at parse or render time, never a wrong prompt.
public struct ChatTemplate: @unchecked Sendable {
    private let nodes: [JinjaNode]

    public init(_ source: String) throws(TokenizerError) {
        var parser = JinjaParser(try JinjaLexer.segments(source))
        (nodes, _) = try parser.parseNodes(until: [])
    }

    /// Renders the conversation. `messages` are role/content pairs; `context` adds variables (such as `bos_token`).
    public func render(
        messages: [(role: String, content: String)], addGenerationPrompt: Bool,
        context: [String: JinjaValue] = [:]
    ) throws(TokenizerError) -> String {
        var vars = context
        vars["messages"] = .array(messages.map { .dict([("role", .string($0.role)), ("content", .string($0.content))]) })
        vars["add_generation_prompt"] = .bool(addGenerationPrompt)
        var r = JinjaRenderer(scopes: [vars])
        try r.render(nodes)
        return r.output
    }
}

extension ChatTemplate {
    /// Renders with the tokenizer's special tokens in scope (`bos_token`, `eos_token`), as transformers does.
    public func render(
        messages: [(role: String, content: String)], addGenerationPrompt: Bool, tokenizer: Tokenizer
    ) throws(TokenizerError) -> String {
        func tokenText(_ id: Int32?) -> JinjaValue { id.map { .string(tokenizer.tokens[Int($0)]) } ?? .undefined }
        return try render(messages: messages, addGenerationPrompt: addGenerationPrompt,
                          context: ["bos_token": tokenText(tokenizer.bosID), "eos_token": tokenText(tokenizer.eosID)])
    }
}

struct JinjaRenderer {
    var scopes: [[String: JinjaValue]]
    var output = ""
    /// Bounds the work a template can make us do (a loop over a huge range, say).
    private var steps = 0
    private static let maxSteps = 1_000_000

    init(scopes: [[String: JinjaValue]]) { self.scopes = scopes }

    mutating func render(_ nodes: [JinjaNode]) throws(TokenizerError) {
        for node in nodes {
            steps += 1
            guard steps < Self.maxSteps else { throw TokenizerError("chat template: rendering takes too many steps") }
            switch node {
            case .text(let t): output += t
            case .output(let e): output += try eval(e).rendered
            case .set(let name, let e): scopes[scopes.count - 1][name] = try eval(e)
            case .conditional(let branches, let otherwise):
                var done = false
                for (condition, body) in branches where try eval(condition).truthy {
                    try render(body)
                    done = true
                    break
                }
                if !done { try render(otherwise) }
            case .forLoop(let variables, let iterable, let body, let otherwise):
                let items: [JinjaValue]
                switch try eval(iterable) {
                case .array(let a): items = a
                case .dict(let d): items = d.map { .string($0.0) }
                case .string(let s): items = s.map { .string(String($0)) }
                case .undefined, .none: items = []
                case let v: throw TokenizerError("chat template: cannot loop over a \(v.typeName)")
                }
                if items.isEmpty { try render(otherwise); continue }
                for (k, item) in items.enumerated() {
                    var scope: [String: JinjaValue] = [
                        "loop": .dict([
                            ("index", .int(k + 1)), ("index0", .int(k)), ("first", .bool(k == 0)),
                            ("last", .bool(k == items.count - 1)), ("length", .int(items.count)),
                            ("revindex", .int(items.count - k)), ("revindex0", .int(items.count - k - 1)),
                        ])
                    ]
                    if variables.count == 1 {
                        scope[variables[0]] = item
                    } else {
                        guard case .array(let parts) = item, parts.count == variables.count else {
                            throw TokenizerError("chat template: cannot unpack \(item.repr) into \(variables.count) variables")
                        }
                        for (v, p) in zip(variables, parts) { scope[v] = p }
                    }
                    scopes.append(scope)
                    defer { scopes.removeLast() }
                    try render(body)
                }
            }
        }
    }

    func lookup(_ name: String) -> JinjaValue {
        for scope in scopes.reversed() { if let v = scope[name] { return v } }
        return .undefined
    }

    func eval(_ e: JinjaExpr) throws(TokenizerError) -> JinjaValue {
        switch e {
        case .literal(let v): return v
        case .name(let n): return lookup(n)
        case .list(let items): return .array(try items.map { (x) throws(TokenizerError) in try eval(x) })
        case .dict(let items):
            return .dict(try items.map { (k, v) throws(TokenizerError) in
                guard case .string(let key) = try eval(k) else { throw TokenizerError("chat template: dict keys must be strings") }
                return (key, try eval(v))
            })
        case .attribute(let base, let name):
            return try eval(base)[name]
        case .index(let base, let index):
            return try subscriptValue(eval(base), eval(index))
        case .slice(let base, let start, let end):
            let b = try eval(base)
            func bound(_ x: JinjaExpr?, _ count: Int, _ dflt: Int) throws(TokenizerError) -> Int {
                guard let x else { return dflt }
                guard case .int(var v) = try eval(x) else { throw TokenizerError("chat template: slice bounds must be integers") }
                if v < 0 { v += count }
                return min(max(v, 0), count)
            }
            switch b {
            case .array(let a):
                let lo = try bound(start, a.count, 0), hi = try bound(end, a.count, a.count)
                return .array(lo < hi ? Array(a[lo..<hi]) : [])
            case .string(let s):
                let chars = Array(s)
                let lo = try bound(start, chars.count, 0), hi = try bound(end, chars.count, chars.count)
                return .string(lo < hi ? String(chars[lo..<hi]) : "")
            default: throw TokenizerError("chat template: cannot slice a \(b.typeName)")
            }
        case .conditional(let value, let condition, let otherwise):
            if try eval(condition).truthy { return try eval(value) }
            return try otherwise.map { (x) throws(TokenizerError) in try eval(x) } ?? .undefined
        case .unary(let op, let x):
            let v = try eval(x)
            if op == "not" { return .bool(!v.truthy) }
            switch v {
            case .int(let i): return .int(-i)
            case .double(let d): return .double(-d)
            default: throw TokenizerError("chat template: cannot negate a \(v.typeName)")
            }
        case .binary(let op, let l, let r):
            if op == "and" { let a = try eval(l); return a.truthy ? try eval(r) : a }
            if op == "or" { let a = try eval(l); return a.truthy ? a : try eval(r) }
            return try JinjaOperators.binary(op, eval(l), eval(r))
        case .test(let x, let name, let negated):
            let v = try eval(x)
            let result: Bool
            switch name {
            case "defined": result = v != .undefined
            case "undefined": result = v == .undefined
            case "none": result = v == .none
            case "string": if case .string = v { result = true } else { result = false }
            case "mapping": if case .dict = v { result = true } else { result = false }
            case "iterable", "sequence":
                switch v { case .array, .string, .dict: result = true; default: result = false }
            case "number": switch v { case .int, .double: result = true; default: result = false }
            case "true": result = v == .bool(true)
            case "false": result = v == .bool(false)
            default: throw TokenizerError("chat template: the test 'is \(name)' is not supported")
            }
            return .bool(result != negated)
        case .filter(let x, let name, let args):
            return try JinjaOperators.filter(name, eval(x), args.map { (a) throws(TokenizerError) in try eval(a) })
        case .call(let callee, let args):
            let values = try args.map { (a) throws(TokenizerError) in try eval(a) }
            if case .name("raise_exception") = callee {
                throw TokenizerError("chat template raised: \(values.first?.rendered ?? "")")
            }
            guard case .attribute(let base, let method) = callee else {
                throw TokenizerError("chat template: only methods of values can be called")
            }
            return try JinjaOperators.method(method, on: eval(base), values)
        }
    }

    private func subscriptValue(_ b: JinjaValue, _ i: JinjaValue) throws(TokenizerError) -> JinjaValue {
        switch (b, i) {
        case (.dict, .string(let k)): return b[k]
        case (.array(let a), .int(var k)):
            if k < 0 { k += a.count }
            guard k >= 0 && k < a.count else { return .undefined }
            return a[k]
        case (.string(let s), .int(var k)):
            let chars = Array(s)
            if k < 0 { k += chars.count }
            guard k >= 0 && k < chars.count else { return .undefined }
            return .string(String(chars[k]))
        case (.undefined, _): return .undefined
        default: throw TokenizerError("chat template: cannot index a \(b.typeName) with a \(i.typeName)")
        }
    }
}
