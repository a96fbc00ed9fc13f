/// Builds the syntax tree of a template from the lexer's segments.
struct JinjaParser {
    private var segments: [JinjaLexer.Segment]
    private var position = 0

    init(_ segments: [JinjaLexer.Segment]) { self.segments = segments }

    /// Parses nodes until one of `terminators` (a statement keyword) or the end.
    /// Returns the nodes and the terminating statement's tokens.
    mutating func parseNodes(until terminators: Set<String>) throws(TokenizerError) -> ([JinjaNode], [JinjaLexer.Token]?) {
        var nodes: [JinjaNode] = []
        while position < segments.count {
            let seg = segments[position]
            position += 1
            switch seg {
            case .text(let t): nodes.append(.text(t))
            case .output(let tokens):
                var e = ExpressionParser(tokens)
                nodes.append(.output(try e.parseAll()))
            case .statement(let tokens):
                guard case .name(let keyword)? = tokens.first else { throw TokenizerError("chat template: empty statement") }
                if terminators.contains(keyword) { return (nodes, tokens) }
                nodes.append(try parseStatement(keyword, tokens))
            }
        }
        if !terminators.isEmpty {
            throw TokenizerError("chat template: missing {% \(terminators.sorted().joined(separator: " or ")) %}")
        }
        return (nodes, nil)
    }

    private mutating func parseStatement(_ keyword: String, _ tokens: [JinjaLexer.Token]) throws(TokenizerError) -> JinjaNode {
        var e = ExpressionParser(Array(tokens.dropFirst()))
        switch keyword {
        case "if":
            var branches: [(JinjaExpr, [JinjaNode])] = []
            var condition = try e.parseAll()
            while true {
                let (body, end) = try parseNodes(until: ["elif", "else", "endif"])
                branches.append((condition, body))
                guard case .name(let k)? = end?.first else { break }
                if k == "endif" { return .conditional(branches: branches, otherwise: []) }
                if k == "else" {
                    let (otherwise, _) = try parseNodes(until: ["endif"])
                    return .conditional(branches: branches, otherwise: otherwise)
                }
                var c = ExpressionParser(Array(end!.dropFirst()))
                condition = try c.parseAll()
            }
            return .conditional(branches: branches, otherwise: [])
        case "for":
            var variables: [String] = []
            repeat {
                guard case .name(let v) = try e.next() else { throw TokenizerError("chat template: for needs a variable name") }
                variables.append(v)
            } while e.accept(.op(","))
            guard e.accept(.name("in")) else { throw TokenizerError("chat template: for without 'in'") }
            let iterable = try e.parseAll(allowingFilterOnly: true)
            let (body, end) = try parseNodes(until: ["else", "endfor"])
            var otherwise: [JinjaNode] = []
            if case .name("else")? = end?.first { (otherwise, _) = try parseNodes(until: ["endfor"]) }
            return .forLoop(variables: variables, iterable: iterable, body: body, otherwise: otherwise)
        case "set":
            guard case .name(let v) = try e.next(), e.accept(.op("=")) else {
                throw TokenizerError("chat template: only '{% set name = value %}' is supported")
            }
            return .set(v, try e.parseAll())
        default:
            throw TokenizerError("chat template: the '\(keyword)' statement is not supported (if, for, set are)")
        }
    }
}

/// Precedence climbing over one tag's tokens, lowest first:
/// conditional, or, and, not, comparisons/in/is, ~, + -, * / // %, unary -, postfix (. [] () |).
struct ExpressionParser {
    private let tokens: [JinjaLexer.Token]
    private var i = 0

    init(_ tokens: [JinjaLexer.Token]) { self.tokens = tokens }

    mutating func parseAll(allowingFilterOnly: Bool = false) throws(TokenizerError) -> JinjaExpr {
        let e = try parseConditional()
        guard i == tokens.count else { throw TokenizerError("chat template: unexpected \(describe(tokens[i]))") }
        return e
    }

    mutating func next() throws(TokenizerError) -> JinjaLexer.Token {
        guard i < tokens.count else { throw TokenizerError("chat template: expression ends too early") }
        defer { i += 1 }
        return tokens[i]
    }

    mutating func accept(_ t: JinjaLexer.Token) -> Bool {
        if i < tokens.count && tokens[i] == t { i += 1; return true }
        return false
    }

    private func peek(_ t: JinjaLexer.Token, ahead: Int = 0) -> Bool { i + ahead < tokens.count && tokens[i + ahead] == t }

    private mutating func expect(_ t: JinjaLexer.Token) throws(TokenizerError) {
        guard accept(t) else { throw TokenizerError("chat template: expected \(describe(t))") }
    }

    private func describe(_ t: JinjaLexer.Token) -> String {
        switch t {
        case .name(let n): "'\(n)'"
        case .string(let s): "string '\(s)'"
        case .int(let v): "\(v)"
        case .double(let v): "\(v)"
        case .op(let o): "'\(o)'"
        }
    }

    private mutating func parseConditional() throws(TokenizerError) -> JinjaExpr {
        let value = try parseOr()
        guard accept(.name("if")) else { return value }
        let condition = try parseOr()
        let otherwise = accept(.name("else")) ? try parseConditional() : nil
        return .conditional(value, condition: condition, otherwise: otherwise)
    }

    private mutating func parseOr() throws(TokenizerError) -> JinjaExpr {
        var l = try parseAnd()
        while accept(.name("or")) { l = .binary("or", l, try parseAnd()) }
        return l
    }

    private mutating func parseAnd() throws(TokenizerError) -> JinjaExpr {
        var l = try parseNot()
        while accept(.name("and")) { l = .binary("and", l, try parseNot()) }
        return l
    }

    private mutating func parseNot() throws(TokenizerError) -> JinjaExpr {
        if accept(.name("not")) { return .unary("not", try parseNot()) }
        return try parseComparison()
    }

    private mutating func parseComparison() throws(TokenizerError) -> JinjaExpr {
        var l = try parseConcat()
        while true {
            if let op = ["==", "!=", "<", ">", "<=", ">="].first(where: { peek(.op($0)) }) {
                i += 1
                l = .binary(op, l, try parseConcat())
            } else if accept(.name("in")) {
                l = .binary("in", l, try parseConcat())
            } else if peek(.name("not")) && peek(.name("in"), ahead: 1) {
                i += 2
                l = .unary("not", .binary("in", l, try parseConcat()))
            } else if accept(.name("is")) {
                let negated = accept(.name("not"))
                guard case .name(let test) = try next() else { throw TokenizerError("chat template: 'is' needs a test name") }
                l = .test(l, test, negated: negated)
            } else {
                return l
            }
        }
    }

    private mutating func parseConcat() throws(TokenizerError) -> JinjaExpr {
        var l = try parseAdditive()
        while accept(.op("~")) { l = .binary("~", l, try parseAdditive()) }
        return l
    }

    private mutating func parseAdditive() throws(TokenizerError) -> JinjaExpr {
        var l = try parseMultiplicative()
        while let op = ["+", "-"].first(where: { peek(.op($0)) }) {
            i += 1
            l = .binary(op, l, try parseMultiplicative())
        }
        return l
    }

    private mutating func parseMultiplicative() throws(TokenizerError) -> JinjaExpr {
        var l = try parseUnary()
        while let op = ["*", "/", "//", "%"].first(where: { peek(.op($0)) }) {
            i += 1
            l = .binary(op, l, try parseUnary())
        }
        return l
    }

    private mutating func parseUnary() throws(TokenizerError) -> JinjaExpr {
        if accept(.op("-")) { return .unary("-", try parseUnary()) }
        return try parsePostfix()
    }

    private mutating func parsePostfix() throws(TokenizerError) -> JinjaExpr {
        var e = try parsePrimary()
        while true {
            if accept(.op(".")) {
                guard case .name(let n) = try next() else { throw TokenizerError("chat template: '.' needs a name") }
                e = .attribute(e, n)
            } else if accept(.op("[")) {
                var start: JinjaExpr?
                if !peek(.op(":")) { start = try parseConditional() }
                if accept(.op(":")) {
                    let end = peek(.op("]")) ? nil : try parseConditional()
                    e = .slice(e, start, end)
                } else {
                    e = .index(e, start!)
                }
                try expect(.op("]"))
            } else if accept(.op("(")) {
                e = .call(e, try parseArguments())
            } else if accept(.op("|")) {
                guard case .name(let f) = try next() else { throw TokenizerError("chat template: '|' needs a filter name") }
                e = .filter(e, f, accept(.op("(")) ? try parseArguments() : [])
            } else {
                return e
            }
        }
    }

    private mutating func parseArguments() throws(TokenizerError) -> [JinjaExpr] {
        var args: [JinjaExpr] = []
        while !accept(.op(")")) {
            if !args.isEmpty { try expect(.op(",")) }
            args.append(try parseConditional())
        }
        return args
    }

    private mutating func parsePrimary() throws(TokenizerError) -> JinjaExpr {
        switch try next() {
        case .string(var s):
            while case .string(let more)? = i < tokens.count ? tokens[i] : nil { s += more; i += 1 }  // "a" "b"
            return .literal(.string(s))
        case .int(let v): return .literal(.int(v))
        case .double(let v): return .literal(.double(v))
        case .name(let n):
            switch n {
            case "true", "True": return .literal(.bool(true))
            case "false", "False": return .literal(.bool(false))
            case "none", "None": return .literal(.none)
            default: return .name(n)
            }
        case .op("("):
            let e = try parseConditional()
            try expect(.op(")"))
            return e
        case .op("["):
            var items: [JinjaExpr] = []
            while !accept(.op("]")) {
                if !items.isEmpty { try expect(.op(",")) }
                items.append(try parseConditional())
            }
            return .list(items)
        case .op("{"):
            var items: [(JinjaExpr, JinjaExpr)] = []
            while !accept(.op("}")) {
                if !items.isEmpty { try expect(.op(",")) }
                let k = try parseConditional()
                try expect(.op(":"))
                items.append((k, try parseConditional()))
            }
            return .dict(items)
        case let t:
            throw TokenizerError("chat template: unexpected \(describe(t))")
        }
    }
}
