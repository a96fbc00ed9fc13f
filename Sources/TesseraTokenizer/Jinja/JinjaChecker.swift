/// Load-time checks, so a template that cannot work fails when the model loads and not on some later request:
/// every filter, test and called global must be one the engine has (jinja2 itself would only fail when the
/// branch runs).
enum JinjaChecker {
    static func check(_ nodes: [JinjaNode]) throws(TokenizerError) {
        var defined = JinjaBuiltins.names.union(["loop", "caller", "varargs", "kwargs"])
        collectDefinitions(nodes, into: &defined)
        try walk(nodes, defined)
    }

    /// Names a template can give a callable to: macros, and anything it assigns (a macro may be aliased).
    private static func collectDefinitions(_ nodes: [JinjaNode], into names: inout Set<String>) {
        func targets(_ t: JinjaTarget) {
            switch t {
            case .name(let n): names.insert(n)
            case .attribute: break
            case .tuple(let ts): for x in ts { targets(x) }
            }
        }
        for node in nodes {
            switch node {
            case .macro(let def, _):
                names.insert(def.name)
                for (p, _) in def.parameters { names.insert(p) }
                collectDefinitions(def.body, into: &names)
            case .set(let t, _, _): targets(t)
            case .setBlock(let t, let body, _, _):
                targets(t)
                collectDefinitions(body, into: &names)
            case .forLoop(let f):
                targets(f.target)
                collectDefinitions(f.body, into: &names)
                collectDefinitions(f.otherwise, into: &names)
            case .conditional(let branches, let otherwise, _):
                for (_, b) in branches { collectDefinitions(b, into: &names) }
                collectDefinitions(otherwise, into: &names)
            case .callBlock(_, let caller, _):
                for (p, _) in caller.parameters { names.insert(p) }
                collectDefinitions(caller.body, into: &names)
            case .filterBlock(_, let body, _), .generation(let body, _): collectDefinitions(body, into: &names)
            case .with(let assignments, let body, _):
                for (t, _) in assignments { targets(t) }
                collectDefinitions(body, into: &names)
            case .text, .output, .breakLoop, .continueLoop: break
            }
        }
    }

    private static func walk(_ nodes: [JinjaNode], _ defined: Set<String>) throws(TokenizerError) {
        for node in nodes {
            switch node {
            case .text, .breakLoop, .continueLoop: break
            case .output(let e, let line), .set(_, let e, let line): try walk(e, line, defined)
            case .forLoop(let f):
                try walk(f.iterable, f.line, defined)
                if let c = f.condition { try walk(c, f.line, defined) }
                try walk(f.body, defined)
                try walk(f.otherwise, defined)
            case .conditional(let branches, let otherwise, let line):
                for (c, b) in branches {
                    try walk(c, line, defined)
                    try walk(b, defined)
                }
                try walk(otherwise, defined)
            case .setBlock(_, let body, let filter, let line):
                if let filter { try walk(filter, line, defined) }
                try walk(body, defined)
            case .macro(let def, let line):
                for (_, d) in def.parameters { if let d { try walk(d, line, defined) } }
                try walk(def.body, defined)
            case .callBlock(let call, let caller, let line):
                try walk(call, line, defined)
                try walk(caller.body, defined)
            case .filterBlock(let f, let body, let line):
                try walk(f, line, defined)
                try walk(body, defined)
            case .with(let assignments, let body, let line):
                for (_, e) in assignments { try walk(e, line, defined) }
                try walk(body, defined)
            case .generation(let body, _): try walk(body, defined)
            }
        }
    }

    private static func walk(_ args: JinjaCallArgs, _ line: Int, _ defined: Set<String>) throws(TokenizerError) {
        for a in args.positional { try walk(a, line, defined) }
        for (_, a) in args.keyword { try walk(a, line, defined) }
        if let s = args.star { try walk(s, line, defined) }
        if let s = args.doubleStar { try walk(s, line, defined) }
    }

    private static func walk(_ e: JinjaExpr, _ line: Int, _ defined: Set<String>) throws(TokenizerError) {
        switch e {
        case .constant, .name: break
        case .list(let items), .tuple(let items), .concat(let items): for x in items { try walk(x, line, defined) }
        case .dict(let pairs):
            for (k, v) in pairs {
                try walk(k, line, defined)
                try walk(v, line, defined)
            }
        case .getattr(let b, _), .not(let b), .negative(let b), .positive(let b): try walk(b, line, defined)
        case .getitem(let a, let b), .binary(_, let a, let b), .and(let a, let b), .or(let a, let b):
            try walk(a, line, defined)
            try walk(b, line, defined)
        case .slice(let b, let x, let y, let z):
            try walk(b, line, defined)
            for part in [x, y, z] { if let part { try walk(part, line, defined) } }
        case .call(let f, let args):
            if case .name(let n, let l) = f, !defined.contains(n) {
                throw TokenizerError("chat template: function '\(n)' is not supported (line \(l))")
            }
            try walk(f, line, defined)
            try walk(args, line, defined)
        case .filter(let v, let name, let args, let l):
            guard JinjaFilters.names.contains(name) else { throw TokenizerError("chat template: filter '\(name)' is not supported (line \(l))") }
            if name == "map", args.keyword.isEmpty, case .constant(.string(let f))? = args.positional.first, !JinjaFilters.names.contains(f) {
                throw TokenizerError("chat template: filter '\(f)' is not supported (line \(l))")
            }
            if ["select", "reject"].contains(name), case .constant(.string(let t))? = args.positional.first, !JinjaTests.names.contains(t) {
                throw TokenizerError("chat template: test '\(t)' is not supported (line \(l))")
            }
            if ["selectattr", "rejectattr"].contains(name), args.positional.count > 1, case .constant(.string(let t)) = args.positional[1], !JinjaTests.names.contains(t) {
                throw TokenizerError("chat template: test '\(t)' is not supported (line \(l))")
            }
            if let v { try walk(v, line, defined) }
            try walk(args, line, defined)
        case .test(let v, let name, let args, _, let l):
            guard JinjaTests.names.contains(name) else { throw TokenizerError("chat template: test '\(name)' is not supported (line \(l))") }
            try walk(v, line, defined)
            try walk(args, line, defined)
        case .compare(let a, let ops):
            try walk(a, line, defined)
            for (_, b) in ops { try walk(b, line, defined) }
        case .conditional(let a, let t, let o):
            try walk(a, line, defined)
            try walk(t, line, defined)
            if let o { try walk(o, line, defined) }
        }
    }
}
