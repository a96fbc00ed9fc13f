/// Expressions, evaluated as jinja2's compiled code evaluates them in its ImmutableSandboxedEnvironment.
extension JinjaRenderer {
    func eval(_ e: JinjaExpr) throws(TokenizerError) -> JinjaValue {
        try step()
        try enterNesting()
        defer { nesting -= 1 }
        switch e {
        case .constant(let v): return v
        case .name(let n, _): return lookup(n)
        case .list(let items): return .array(try items.map { (x) throws(TokenizerError) in try eval(x) })
        case .tuple(let items): return .tuple(try items.map { (x) throws(TokenizerError) in try eval(x) })
        case .dict(let pairs):
            var out: [(String, JinjaValue)] = []
            for (k, v) in pairs {
                let key = try eval(k)
                guard let ks = JinjaKey.encode(key) else {
                    throw TokenizerError("chat template: unhashable type: '\(key.typeName)'")
                }
                let value = try eval(v)
                if let i = out.firstIndex(where: { $0.0 == ks }) { out[i].1 = value } else { out.append((ks, value)) }
            }
            return .dict(out)
        case .getattr(let base, let name):
            let b = try eval(base)
            if case .undefined = b { throw undefinedError(base) }
            return try JinjaAccess.attribute(b, name, self)
        case .getitem(let base, let index):
            let b = try eval(base)
            if case .undefined = b { throw undefinedError(base) }
            return try JinjaAccess.item(b, try eval(index), self)
        case .slice(let base, let start, let stop, let step):
            let b = try eval(base)
            if case .undefined = b { throw undefinedError(base) }
            func bound(_ x: JinjaExpr?) throws(TokenizerError) -> Int? {
                guard let x else { return nil }
                let v = try eval(x)
                switch v {
                case .none: return nil
                case .int(let i): return i
                case .bool(let b): return b ? 1 : 0
                default: throw TokenizerError("chat template: slice indices must be integers or None")
                }
            }
            return try JinjaAccess.slice(b, try bound(start), try bound(stop), try bound(step))
        case .call(let callee, let args):
            return try evalCall(callee, args)
        case .filter(let value, let name, let args, _):
            guard let value else { throw TokenizerError("chat template: filter without a value") }
            return try JinjaFilters.apply(name, try eval(value), try evalArguments(args), self)
        case .test(let value, let name, let args, let negated, _):
            let result = try JinjaTests.apply(name, try eval(value), try evalArguments(args), self)
            return .bool(result != negated)
        case .not(let x): return .bool(!(try eval(x)).truthy)
        case .negative(let x):
            let v = try eval(x)
            guard let n = v.numeric else { throw operandError("unary -", v) }
            return JinjaValue(try JinjaNumber.subtract(.int(0), n) as JinjaNumber.Num).negativeZeroFixed(n)
        case .positive(let x):
            let v = try eval(x)
            guard let n = v.numeric else { throw operandError("unary +", v) }
            return JinjaValue(n)
        case .binary(let op, let l, let r):
            return try JinjaOperators.binary(op, try eval(l), try eval(r))
        case .and(let l, let r):
            let a = try eval(l)
            return a.truthy ? try eval(r) : a
        case .or(let l, let r):
            let a = try eval(l)
            return a.truthy ? a : try eval(r)
        case .compare(let first, let ops):
            var left = try eval(first)
            for (op, rightExpr) in ops {
                let right = try eval(rightExpr)
                if !(try JinjaOperators.compare(op, left, right)) { return .bool(false) }
                left = right
            }
            return .bool(true)
        case .concat(let items):
            var out = ""
            for x in items { out += try eval(x).pythonString }
            return try JinjaOperators.checkSize(.string(out))
        case .conditional(let value, let test, let otherwise):
            if try eval(test).truthy { return try eval(value) }
            return try otherwise.map { (x) throws(TokenizerError) in try eval(x) } ?? .undefined
        }
    }

    func operandError(_ op: String, _ v: JinjaValue) -> TokenizerError {
        if case .undefined = v { return TokenizerError("chat template: an undefined value was used in '\(op)'") }
        return TokenizerError("chat template: bad operand type for \(op): '\(v.typeName)'")
    }

    /// jinja2's message for reading through an undefined value.
    func undefinedError(_ e: JinjaExpr) -> TokenizerError {
        switch e {
        case .name(let n, _): return TokenizerError("chat template: '\(n)' is undefined")
        case .getattr(_, let n): return TokenizerError("chat template: an attribute of undefined '\(n)' was read")
        default: return TokenizerError("chat template: a member of an undefined value was read")
        }
    }

    func evalArguments(_ args: JinjaCallArgs) throws(TokenizerError) -> JinjaArguments {
        var out = JinjaArguments()
        for a in args.positional { out.positional.append(try eval(a)) }
        for (k, a) in args.keyword { out.keyword.append((k, try eval(a))) }
        if let star = args.star { out.positional += try eval(star).iterate() }
        if let dstar = args.doubleStar {
            guard case .dict(let pairs) = try eval(dstar) else { throw TokenizerError("chat template: ** needs a mapping") }
            out.keyword += pairs
        }
        return out
    }

    private func evalCall(_ callee: JinjaExpr, _ args: JinjaCallArgs) throws(TokenizerError) -> JinjaValue {
        // Methods are called straight on their receiver (no bound-method object in between).
        if case .getattr(let baseExpr, let name) = callee {
            let base = try eval(baseExpr)
            if case .undefined = base { throw undefinedError(baseExpr) }
            if JinjaMethods.has(base, name) {
                return try JinjaMethods.call(base, name, try evalArguments(args), self)
            }
            return try callValue(try JinjaAccess.attribute(base, name, self), try evalArguments(args), name: name)
        }
        let f = try eval(callee)
        var name: String?
        if case .name(let n, _) = callee { name = n }
        return try callValue(f, try evalArguments(args), name: name)
    }

    func callValue(_ f: JinjaValue, _ args: JinjaArguments, name: String? = nil) throws(TokenizerError) -> JinjaValue {
        switch f {
        case .object(let o) where o.isCallable: return try o.call(args, self)
        case .undefined:
            throw TokenizerError("chat template: '\(name ?? "value")' is undefined and cannot be called")
        default:
            throw TokenizerError("chat template: '\(f.typeName)' object is not callable")
        }
    }

    /// A filter chain parsed with no value (`{% filter a|b %}`, `{% set x | f %}`), applied to `value`.
    func applyFilterChain(_ chain: JinjaExpr, to value: JinjaValue) throws(TokenizerError) -> JinjaValue {
        guard case .filter(let inner, let name, let args, _) = chain else { return value }
        let v = try inner.map { (i) throws(TokenizerError) in try applyFilterChain(i, to: value) } ?? value
        return try JinjaFilters.apply(name, v, try evalArguments(args), self)
    }
}

extension JinjaValue {
    /// `-0` of an int is 0, of a float -0.0 (the subtraction from 0 loses the sign).
    fileprivate func negativeZeroFixed(_ original: JinjaNumber.Num) -> JinjaValue {
        if case .double(let d) = original { return .double(-d) }
        return self
    }
}
