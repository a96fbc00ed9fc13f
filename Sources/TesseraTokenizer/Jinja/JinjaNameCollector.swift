/// Every name an AST reads (for macros: whether they use `varargs`, `kwargs`, `caller`).
enum JinjaNameCollector {
    static func collect(_ nodes: [JinjaNode], into names: inout Set<String>) {
        for n in nodes { collect(n, into: &names) }
    }

    static func collect(_ node: JinjaNode, into names: inout Set<String>) {
        switch node {
        case .text, .breakLoop, .continueLoop: break
        case .output(let e, _), .set(_, let e, _): collect(e, into: &names)
        case .forLoop(let f):
            collect(f.iterable, into: &names)
            if let c = f.condition { collect(c, into: &names) }
            collect(f.body, into: &names)
            collect(f.otherwise, into: &names)
        case .conditional(let branches, let otherwise, _):
            for (c, b) in branches {
                collect(c, into: &names)
                collect(b, into: &names)
            }
            collect(otherwise, into: &names)
        case .setBlock(_, let body, let filter, _):
            collect(body, into: &names)
            if let filter { collect(filter, into: &names) }
        case .macro: break  // a nested macro's names are its own
        case .callBlock(let call, let caller, _):
            collect(call, into: &names)
            collect(caller.body, into: &names)
        case .filterBlock(let f, let body, _):
            collect(f, into: &names)
            collect(body, into: &names)
        case .with(let assignments, let body, _):
            for (_, e) in assignments { collect(e, into: &names) }
            collect(body, into: &names)
        case .generation(let body, _): collect(body, into: &names)
        }
    }

    static func collect(_ args: JinjaCallArgs, into names: inout Set<String>) {
        for a in args.positional { collect(a, into: &names) }
        for (_, a) in args.keyword { collect(a, into: &names) }
        if let s = args.star { collect(s, into: &names) }
        if let s = args.doubleStar { collect(s, into: &names) }
    }

    static func collect(_ e: JinjaExpr, into names: inout Set<String>) {
        switch e {
        case .constant: break
        case .name(let n, _): names.insert(n)
        case .list(let items), .tuple(let items), .concat(let items): for x in items { collect(x, into: &names) }
        case .dict(let pairs):
            for (k, v) in pairs {
                collect(k, into: &names)
                collect(v, into: &names)
            }
        case .getattr(let b, _), .not(let b), .negative(let b), .positive(let b): collect(b, into: &names)
        case .getitem(let a, let b), .binary(_, let a, let b), .and(let a, let b), .or(let a, let b):
            collect(a, into: &names)
            collect(b, into: &names)
        case .slice(let b, let x, let y, let z):
            collect(b, into: &names)
            for part in [x, y, z] { if let part { collect(part, into: &names) } }
        case .call(let f, let args):
            collect(f, into: &names)
            collect(args, into: &names)
        case .filter(let v, _, let args, _):
            if let v { collect(v, into: &names) }
            collect(args, into: &names)
        case .test(let v, _, let args, _, _):
            collect(v, into: &names)
            collect(args, into: &names)
        case .compare(let a, let ops):
            collect(a, into: &names)
            for (_, b) in ops { collect(b, into: &names) }
        case .conditional(let a, let t, let o):
            collect(a, into: &names)
            collect(t, into: &names)
            if let o { collect(o, into: &names) }
        }
    }
}
