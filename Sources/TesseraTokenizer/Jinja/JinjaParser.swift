/// Recursive-descent parser following jinja2's own grammar function by function (parse_tuple, parse_condexpr,
/// parse_or … parse_unary, parse_primary, parse_postfix, parse_filter_expr), so precedence and its quirks match:
/// `**` is left-associative, `-x|f` filters the negation, `not x is y` negates the test, tests take one bare argument.
struct JinjaParser {
    private let tokens: [JinjaToken]
    private var i = 0
    private var depth = 0
    private var loopDepth = 0
    static let maxDepth = 100

    init(_ tokens: [JinjaToken]) { self.tokens = tokens }

    static func parse(_ source: String) throws(TokenizerError) -> [JinjaNode] {
        var p = JinjaParser(try JinjaLexer.tokenize(source))
        let nodes = try p.subparse([])
        guard case .end = p.current.kind else { throw p.error("unexpected '\(p.describe(p.current))'") }
        return nodes
    }

    // MARK: tokens

    private var current: JinjaToken { tokens[min(i, tokens.count - 1)] }
    private func peek(_ k: Int = 1) -> JinjaToken { tokens[min(i + k, tokens.count - 1)] }
    private mutating func next() { if i < tokens.count - 1 { i += 1 } }

    private func error(_ message: String, line: Int? = nil) -> TokenizerError {
        TokenizerError("chat template: \(message) (line \(line ?? current.line))")
    }

    private func describe(_ t: JinjaToken) -> String {
        switch t.kind {
        case .data: "template data"
        case .variableBegin: "{{"
        case .variableEnd: "}}"
        case .blockBegin: "{%"
        case .blockEnd: "%}"
        case .name(let n): n
        case .string(let s): Python.repr(s)
        case .int(let v): String(v)
        case .float(let d): JinjaNumber.repr(d)
        case .op(let o): o
        case .end: "end of template"
        }
    }

    private func isOp(_ op: String, _ t: JinjaToken? = nil) -> Bool {
        if case .op(let o) = (t ?? current).kind { return o == op }
        return false
    }

    private func isName(_ name: String, _ t: JinjaToken? = nil) -> Bool {
        if case .name(let n) = (t ?? current).kind { return n == name }
        return false
    }

    private mutating func skipOp(_ op: String) -> Bool {
        if isOp(op) { next(); return true }
        return false
    }

    private mutating func skipName(_ name: String) -> Bool {
        if isName(name) { next(); return true }
        return false
    }

    private mutating func expectOp(_ op: String) throws(TokenizerError) {
        guard skipOp(op) else { throw error("expected '\(op)', got '\(describe(current))'") }
    }

    private mutating func expectName() throws(TokenizerError) -> String {
        guard case .name(let n) = current.kind else { throw error("expected a name, got '\(describe(current))'") }
        next()
        return n
    }

    private mutating func expectBlockEnd() throws(TokenizerError) {
        guard case .blockEnd = current.kind else { throw error("expected '%}', got '\(describe(current))'") }
        next()
    }

    private mutating func enter() throws(TokenizerError) {
        depth += 1
        if depth > Self.maxDepth { throw error("template nesting is too deep") }
    }

    /// A left-nested chain (`a + b + c`, `x.y[0](1)`) is as deep as it is long: each link counts toward the cap,
    /// and the caller gives the links back when the chain ends.
    private mutating func link(_ links: inout Int) throws(TokenizerError) {
        links += 1
        try enter()
    }

    // MARK: statements

    /// Nodes up to a block tag whose name is in `end` (the stream is left on that name) or the end of input.
    private mutating func subparse(_ end: Set<String>) throws(TokenizerError) -> [JinjaNode] {
        var nodes: [JinjaNode] = []
        while true {
            let t = current
            switch t.kind {
            case .data(let text):
                nodes.append(.text(text))
                next()
            case .variableBegin:
                next()
                let e = try parseTuple()
                guard case .variableEnd = current.kind else { throw error("expected '}}', got '\(describe(current))'") }
                next()
                nodes.append(.output(e, line: t.line))
            case .blockBegin:
                next()
                if case .name(let n) = current.kind, end.contains(n) { return nodes }
                nodes.append(try parseStatement())
                try expectBlockEnd()
            case .end:
                return nodes
            default:
                throw error("unexpected '\(describe(t))'")
            }
        }
    }

    private mutating func parseStatements(_ end: Set<String>, dropNeedle: Bool = false) throws(TokenizerError) -> [JinjaNode] {
        _ = skipOp(":")
        try expectBlockEnd()
        try enter()
        defer { depth -= 1 }
        let body = try subparse(end)
        if case .end = current.kind {
            let names = end.sorted().map { "{% \($0) %}" }.joined(separator: " or ")
            throw error("unexpected end of template: missing \(names)")
        }
        if dropNeedle { next() }
        return body
    }

    private mutating func parseStatement() throws(TokenizerError) -> JinjaNode {
        let line = current.line
        guard case .name(let tag) = current.kind else { throw error("tag name expected, got '\(describe(current))'") }
        switch tag {
        case "for": return try parseFor()
        case "if": return try parseIf()
        case "set": return try parseSet()
        case "macro":
            next()
            return .macro(try parseMacro(name: try expectName()), line: line)
        case "call": return try parseCallBlock()
        case "filter":
            next()
            let filter = try parseFilter(nil, startInline: true)
            return .filterBlock(filter, body: try parseStatements(["endfilter"], dropNeedle: true), line: line)
        case "with":
            next()
            var assignments: [(JinjaTarget, JinjaExpr)] = []
            while true {
                if case .blockEnd = current.kind { break }
                if !assignments.isEmpty { try expectOp(",") }
                let target = try parseAssignTarget(extraEnd: [])
                try expectOp("=")
                assignments.append((target, try parseExpression()))
            }
            return .with(assignments: assignments, body: try parseStatements(["endwith"], dropNeedle: true), line: line)
        case "generation":
            next()
            return .generation(try parseStatements(["endgeneration"], dropNeedle: true), line: line)
        case "break", "continue":
            guard loopDepth > 0 else { throw error("'\(tag)' outside of a loop") }
            next()
            return tag == "break" ? .breakLoop(line: line) : .continueLoop(line: line)
        case "print":
            next()
            return .output(try parseTuple(), line: line)
        case "block", "extends", "include", "import", "from", "autoescape", "do":
            throw error("the '\(tag)' statement is not supported (chat templates have no loader or extensions)")
        default:
            throw error("unknown statement tag '\(tag)'")
        }
    }

    private mutating func parseFor() throws(TokenizerError) -> JinjaNode {
        let line = current.line
        next()
        let target = try parseAssignTarget(extraEnd: ["in"])
        guard skipName("in") else { throw error("expected 'in' in a for loop") }
        let iterable = try parseTuple(withCondition: false, extraEnd: ["recursive"])
        var condition: JinjaExpr?
        if skipName("if") { condition = try parseExpression() }
        let recursive = skipName("recursive")
        loopDepth += 1
        let body = try parseStatements(["endfor", "else"])
        loopDepth -= 1
        var otherwise: [JinjaNode] = []
        let endName = isName("endfor")
        next()
        if !endName {
            otherwise = try parseStatements(["endfor"], dropNeedle: true)
        }
        return .forLoop(JinjaForLoop(target: target, iterable: iterable, condition: condition, recursive: recursive,
                                     body: body, otherwise: otherwise, line: line))
    }

    private mutating func parseIf() throws(TokenizerError) -> JinjaNode {
        let line = current.line
        next()
        var branches: [(JinjaExpr, [JinjaNode])] = []
        var otherwise: [JinjaNode] = []
        while true {
            let test = try parseTuple(withCondition: false)
            let body = try parseStatements(["elif", "else", "endif"])
            branches.append((test, body))
            let tag = current
            next()
            if isName("elif", tag) { continue }
            if isName("else", tag) { otherwise = try parseStatements(["endif"], dropNeedle: true) }
            break
        }
        return .conditional(branches: branches, otherwise: otherwise, line: line)
    }

    private mutating func parseSet() throws(TokenizerError) -> JinjaNode {
        let line = current.line
        next()
        let target = try parseAssignTarget(extraEnd: [], withNamespace: true)
        if skipOp("=") { return .set(target, try parseTuple(), line: line) }
        let filter: JinjaExpr? = isOp("|") ? try parseFilter(nil) : nil
        return .setBlock(target, body: try parseStatements(["endset"], dropNeedle: true), filter: filter, line: line)
    }

    private mutating func parseAssignTarget(extraEnd: Set<String>, withNamespace: Bool = false) throws(TokenizerError) -> JinjaTarget {
        if withNamespace, case .name(let ns) = current.kind, isOp(".", peek()) {
            next()
            next()
            return .attribute(ns, try expectName())
        }
        let e = try parseTuple(simplified: true, extraEnd: extraEnd)
        func target(_ e: JinjaExpr) throws(TokenizerError) -> JinjaTarget {
            switch e {
            case .name(let n, _):
                guard !["true", "false", "none", "True", "False", "None"].contains(n) else { throw error("cannot assign to '\(n)'") }
                return .name(n)
            case .tuple(let items): return .tuple(try items.map { (x) throws(TokenizerError) in try target(x) })
            default: throw error("cannot assign to this expression")
            }
        }
        return try target(e)
    }

    private mutating func parseSignature() throws(TokenizerError) -> [(String, JinjaExpr?)] {
        var params: [(String, JinjaExpr?)] = []
        try expectOp("(")
        while !isOp(")") {
            if !params.isEmpty { try expectOp(",") }
            let name = try expectName()
            if skipOp("=") {
                params.append((name, try parseExpression()))
            } else {
                if params.contains(where: { $0.1 != nil }) { throw error("non-default argument follows default argument") }
                params.append((name, nil))
            }
        }
        try expectOp(")")
        return params
    }

    private mutating func parseMacro(name: String) throws(TokenizerError) -> JinjaMacroDefinition {
        let params = try parseSignature()
        let savedLoops = loopDepth
        loopDepth = 0
        let body = try parseStatements(["endmacro"], dropNeedle: true)
        loopDepth = savedLoops
        return Self.macro(name: name, params: params, body: body)
    }

    static func macro(name: String, params: [(String, JinjaExpr?)], body: [JinjaNode]) -> JinjaMacroDefinition {
        var names = Set<String>()
        JinjaNameCollector.collect(body, into: &names)
        return JinjaMacroDefinition(name: name, parameters: params, body: body, usesVarargs: names.contains("varargs"),
                                    usesKwargs: names.contains("kwargs"), usesCaller: names.contains("caller"))
    }

    private mutating func parseCallBlock() throws(TokenizerError) -> JinjaNode {
        let line = current.line
        next()
        let params = isOp("(") ? try parseSignature() : []
        let call = try parseExpression()
        guard case .call = call else { throw error("expected a call in {% call %}") }
        let body = try parseStatements(["endcall"], dropNeedle: true)
        return .callBlock(call, caller: Self.macro(name: "caller", params: params, body: body), line: line)
    }

    // MARK: expressions

    private func isTupleEnd(_ extraEnd: Set<String>) -> Bool {
        switch current.kind {
        case .variableEnd, .blockEnd, .end: return true
        case .op(let o): return o == ")"
        case .name(let n): return extraEnd.contains(n)
        default: return false
        }
    }

    mutating func parseTuple(simplified: Bool = false, withCondition: Bool = true, extraEnd: Set<String> = [],
                             explicitParentheses: Bool = false) throws(TokenizerError) -> JinjaExpr {
        var items: [JinjaExpr] = []
        var isTuple = false
        while true {
            if !items.isEmpty { try expectOp(",") }
            if isTupleEnd(extraEnd) { break }
            if simplified {
                items.append(try parsePrimary())
            } else {
                items.append(try parseExpression(withCondition: withCondition))
            }
            if isOp(",") { isTuple = true } else { break }
        }
        if !isTuple {
            if let first = items.first { return first }
            if !explicitParentheses { throw error("expected an expression, got '\(describe(current))'") }
        }
        return .tuple(items)
    }

    mutating func parseExpression(withCondition: Bool = true) throws(TokenizerError) -> JinjaExpr {
        try enter()
        defer { depth -= 1 }
        return withCondition ? try parseConditional() : try parseOr()
    }

    private mutating func parseConditional() throws(TokenizerError) -> JinjaExpr {
        var e = try parseOr()
        while skipName("if") {
            let test = try parseOr()
            let otherwise: JinjaExpr? = skipName("else") ? try parseConditional() : nil
            e = .conditional(e, test: test, otherwise: otherwise)
        }
        return e
    }

    private mutating func parseOr() throws(TokenizerError) -> JinjaExpr {
        var e = try parseAnd()
        var links = 0
        defer { depth -= links }
        while skipName("or") {
            try link(&links)
            e = .or(e, try parseAnd())
        }
        return e
    }

    private mutating func parseAnd() throws(TokenizerError) -> JinjaExpr {
        var e = try parseNot()
        var links = 0
        defer { depth -= links }
        while skipName("and") {
            try link(&links)
            e = .and(e, try parseNot())
        }
        return e
    }

    private mutating func parseNot() throws(TokenizerError) -> JinjaExpr {
        if skipName("not") {
            try enter()
            defer { depth -= 1 }
            return .not(try parseNot())
        }
        return try parseCompare()
    }

    private mutating func parseCompare() throws(TokenizerError) -> JinjaExpr {
        let e = try parseMath1()
        var ops: [(JinjaCompare, JinjaExpr)] = []
        while true {
            if case .op(let o) = current.kind, let c = JinjaCompare(rawValue: o), c != .in, c != .notIn {
                next()
                ops.append((c, try parseMath1()))
            } else if skipName("in") {
                ops.append((.in, try parseMath1()))
            } else if isName("not") && isName("in", peek()) {
                next()
                next()
                ops.append((.notIn, try parseMath1()))
            } else {
                break
            }
        }
        return ops.isEmpty ? e : .compare(e, ops)
    }

    private mutating func parseMath1() throws(TokenizerError) -> JinjaExpr {
        var e = try parseConcat()
        var links = 0
        defer { depth -= links }
        while case .op(let o) = current.kind, o == "+" || o == "-" {
            next()
            try link(&links)
            e = .binary(o == "+" ? .add : .subtract, e, try parseConcat())
        }
        return e
    }

    private mutating func parseConcat() throws(TokenizerError) -> JinjaExpr {
        var items = [try parseMath2()]
        while skipOp("~") {
            items.append(try parseMath2())
            if items.count > 10_000 { throw error("expression is too long") }
        }
        return items.count == 1 ? items[0] : .concat(items)
    }

    private mutating func parseMath2() throws(TokenizerError) -> JinjaExpr {
        var e = try parsePow()
        var links = 0
        defer { depth -= links }
        while case .op(let o) = current.kind, let op = JinjaBinary(rawValue: o), [.multiply, .divide, .floorDivide, .modulo].contains(op) {
            next()
            try link(&links)
            e = .binary(op, e, try parsePow())
        }
        return e
    }

    private mutating func parsePow() throws(TokenizerError) -> JinjaExpr {
        var e = try parseUnary()
        var links = 0
        defer { depth -= links }
        while skipOp("**") {
            try link(&links)
            e = .binary(.power, e, try parseUnary())
        }
        return e
    }

    private mutating func parseUnary(withFilter: Bool = true) throws(TokenizerError) -> JinjaExpr {
        try enter()
        defer { depth -= 1 }
        var e: JinjaExpr
        if skipOp("-") {
            e = .negative(try parseUnary(withFilter: false))
        } else if skipOp("+") {
            e = .positive(try parseUnary(withFilter: false))
        } else {
            e = try parsePrimary()
        }
        e = try parsePostfix(e)
        if withFilter { e = try parseFilterExpr(e) }
        return e
    }

    private mutating func parsePrimary() throws(TokenizerError) -> JinjaExpr {
        let t = current
        switch t.kind {
        case .name(let n):
            next()
            switch n {
            case "true", "True": return .constant(.bool(true))
            case "false", "False": return .constant(.bool(false))
            case "none", "None": return .constant(.none)
            default: return .name(n, line: t.line)
            }
        case .string(var s):
            next()
            while case .string(let more) = current.kind {
                s += more
                next()
            }
            return .constant(.string(s))
        case .int(let v):
            next()
            return .constant(.int(v))
        case .float(let d):
            next()
            return .constant(.double(d))
        case .op("("):
            next()
            try enter()
            defer { depth -= 1 }
            let e = try parseTuple(explicitParentheses: true)
            try expectOp(")")
            return e
        case .op("["):
            next()
            try enter()
            defer { depth -= 1 }
            var items: [JinjaExpr] = []
            while !isOp("]") {
                if !items.isEmpty { try expectOp(",") }
                if isOp("]") { break }
                items.append(try parseExpression())
            }
            try expectOp("]")
            return .list(items)
        case .op("{"):
            next()
            try enter()
            defer { depth -= 1 }
            var items: [(JinjaExpr, JinjaExpr)] = []
            while !isOp("}") {
                if !items.isEmpty { try expectOp(",") }
                if isOp("}") { break }
                let key = try parseExpression()
                try expectOp(":")
                items.append((key, try parseExpression()))
            }
            try expectOp("}")
            return .dict(items)
        default:
            throw error("unexpected '\(describe(t))'")
        }
    }

    private mutating func parsePostfix(_ start: JinjaExpr) throws(TokenizerError) -> JinjaExpr {
        var e = start
        var links = 0
        defer { depth -= links }
        while true {
            if skipOp(".") {
                switch current.kind {
                case .name(let n):
                    next()
                    e = .getattr(e, n)
                case .int(let v):
                    next()
                    e = .getitem(e, .constant(.int(v)))
                default: throw error("expected a name or number after '.'")
                }
            } else if skipOp("[") {
                var args: [JinjaExpr] = []
                while !isOp("]") {
                    if !args.isEmpty { try expectOp(",") }
                    args.append(try parseSubscribed())
                }
                try expectOp("]")
                e = .getitem(e, args.count == 1 ? args[0] : .tuple(args))
                if case .getitem(let base, .slice(_, let a, let b, let c)) = e { e = .slice(base, start: a, stop: b, step: c) }
            } else if isOp("(") {
                e = .call(e, try parseCallArgs())
            } else {
                return e
            }
            try link(&links)
        }
    }

    private static var sliceMarker: JinjaExpr { .constant(.undefined) }

    /// One subscript: an expression or a slice `a:b:c` (returned as `.slice` on a placeholder base).
    private mutating func parseSubscribed() throws(TokenizerError) -> JinjaExpr {
        var parts: [JinjaExpr?] = []
        if skipOp(":") {
            parts = [nil]
        } else {
            let e = try parseExpression()
            if !isOp(":") { return e }
            next()
            parts = [e]
        }
        if isOp(":") {
            parts.append(nil)
        } else if !isOp("]") && !isOp(",") {
            parts.append(try parseExpression())
        } else {
            parts.append(nil)
        }
        if skipOp(":") {
            if !isOp("]") && !isOp(",") { parts.append(try parseExpression()) } else { parts.append(nil) }
        } else {
            parts.append(nil)
        }
        return .slice(Self.sliceMarker, start: parts[0], stop: parts[1], step: parts[2])
    }

    private mutating func parseCallArgs() throws(TokenizerError) -> JinjaCallArgs {
        try expectOp("(")
        var args = JinjaCallArgs()
        var requireComma = false
        while !isOp(")") {
            if requireComma {
                try expectOp(",")
                if isOp(")") { break }
            }
            if skipOp("*") {
                guard args.star == nil && args.doubleStar == nil else { throw error("invalid syntax for a call") }
                args.star = try parseExpression()
            } else if skipOp("**") {
                guard args.doubleStar == nil else { throw error("invalid syntax for a call") }
                args.doubleStar = try parseExpression()
            } else if case .name(let key) = current.kind, isOp("=", peek()) {
                guard args.doubleStar == nil else { throw error("invalid syntax for a call") }
                next()
                next()
                args.keyword.append((key, try parseExpression()))
            } else {
                guard args.star == nil && args.doubleStar == nil && args.keyword.isEmpty else {
                    throw error("positional argument follows keyword argument")
                }
                args.positional.append(try parseExpression())
            }
            requireComma = true
        }
        try expectOp(")")
        return args
    }

    private mutating func parseFilterExpr(_ start: JinjaExpr) throws(TokenizerError) -> JinjaExpr {
        var e = start
        var links = 0
        defer { depth -= links }
        while true {
            if isOp("|") {
                e = try parseFilter(e)
            } else if isName("is") {
                e = try parseTest(e)
            } else if isOp("(") {
                e = .call(e, try parseCallArgs())
            } else {
                return e
            }
            try link(&links)
        }
    }

    private mutating func parseFilter(_ start: JinjaExpr?, startInline: Bool = false) throws(TokenizerError) -> JinjaExpr {
        var e = start
        var inline = startInline
        var links = 0
        defer { depth -= links }
        while isOp("|") || inline {
            try link(&links)
            if !inline { next() }
            inline = false
            let line = current.line
            var name = try expectName()
            while skipOp(".") { name += "." + (try expectName()) }
            let args = isOp("(") ? try parseCallArgs() : JinjaCallArgs()
            e = .filter(e, name, args, line: line)
        }
        guard let e else { throw error("expected a filter") }
        return e
    }

    private mutating func parseTest(_ value: JinjaExpr) throws(TokenizerError) -> JinjaExpr {
        let line = current.line
        next()  // is
        let negated = skipName("not")
        var name = try expectName()
        while skipOp(".") { name += "." + (try expectName()) }
        var args = JinjaCallArgs()
        if isOp("(") {
            args = try parseCallArgs()
        } else {
            var takesArgument = false
            switch current.kind {
            case .name(let n): takesArgument = !["else", "or", "and"].contains(n)
            case .string, .int, .float: takesArgument = true
            case .op(let o): takesArgument = o == "[" || o == "{"
            default: break
            }
            if takesArgument {
                if isName("is") { throw error("you cannot chain multiple tests with 'is'") }
                args.positional = [try parsePostfix(try parsePrimary())]
            }
        }
        return .test(value, name, args, negated: negated, line: line)
    }
}
