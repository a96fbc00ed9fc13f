import Foundation

/// The global functions a chat template can call: jinja2's defaults that make sense without a loader (`range`,
/// `namespace`, `dict`, `cycler`, `joiner`) and transformers' additions (`raise_exception`, `strftime_now`, its
/// `dict` and underscore-refusing `namespace`).
final class JinjaBuiltin: JinjaObject, @unchecked Sendable {
    let name: String
    let owner: JinjaObject?

    init(_ name: String, _ owner: JinjaObject? = nil) {
        self.name = name
        self.owner = owner
    }

    override var typeName: String { "function" }
    override var isCallable: Bool { true }
    override var pythonString: String { "<function \(name)>" }

    override func attribute(_ attr: String, _ r: JinjaRenderer) throws(TokenizerError) -> JinjaValue? {
        if name == "dict" && attr == "fromkeys" { return .object(JinjaBuiltin("dict.fromkeys")) }
        return nil
    }

    override func call(_ args: JinjaArguments, _ r: JinjaRenderer) throws(TokenizerError) -> JinjaValue {
        switch name {
        case "range":
            let v = try JinjaBuiltins.range(args)
            if case .object(let o) = v { try r.charge((o as? JinjaSequence)?.items.count ?? 0) }
            return v
        case "namespace":
            let ns = JinjaNamespace()
            for v in args.positional {
                guard case .dict(let pairs) = v else { throw TokenizerError("chat template: namespace() takes a mapping") }
                for (k, v) in pairs { try ns.set(k, v) }
            }
            for (k, v) in args.keyword { try ns.set(k, v) }
            return .object(ns)
        case "dict":
            var out: [(String, JinjaValue)] = []
            func put(_ k: String, _ v: JinjaValue) {
                if let i = out.firstIndex(where: { $0.0 == k }) { out[i].1 = v } else { out.append((k, v)) }
            }
            guard args.positional.count <= 1 else { throw TokenizerError("chat template: dict expected at most 1 argument") }
            if let first = args.positional.first {
                if case .dict(let pairs) = first {
                    for (k, v) in pairs { put(k, v) }
                } else {
                    for item in try first.iterate() {
                        let kv = try item.iterate()
                        guard kv.count == 2, let k = JinjaKey.encode(kv[0]) else {
                            throw TokenizerError("chat template: dict() needs key/value pairs with string keys")
                        }
                        put(k, kv[1])
                    }
                }
            }
            for (k, v) in args.keyword { put(JinjaKey.escape(k), v) }
            return .dict(out)
        case "dict.fromkeys":
            let a = try args.bind("fromkeys", ["iterable", "value"], [nil, JinjaValue.none])
            var out: [(String, JinjaValue)] = []
            for k in try a[0].iterate() {
                guard let ks = JinjaKey.encode(k) else { throw TokenizerError("chat template: unhashable type: '\(k.typeName)'") }
                if !out.contains(where: { $0.0 == ks }) { out.append((ks, a[1])) }
            }
            return .dict(out)
        case "raise_exception":
            let message = args.positional.first ?? args.keyword.first?.1 ?? .none
            throw TokenizerError("chat template raised: " + message.pythonString)
        case "strftime_now":
            let a = try args.bind("strftime_now", ["format"], [nil])
            guard let format = a[0].stringValue else { throw TokenizerError("chat template: strftime_now() needs a format string") }
            return .string(JinjaStrftime.format(r.now, format))
        case "cycler":
            return .object(JinjaCycler(args.positional))
        case "cycler.next":
            guard let c = owner as? JinjaCycler, !c.items.isEmpty else { return .undefined }
            let v = c.items[c.position]
            c.position = (c.position + 1) % c.items.count
            return v
        case "cycler.reset":
            (owner as? JinjaCycler)?.position = 0
            return .none
        case "joiner":
            let a = try args.bind("joiner", ["sep"], [.string(", ")])
            return .object(JinjaJoiner(a[0].pythonString))
        default:
            throw TokenizerError("chat template: '\(name)' is not callable")
        }
    }
}

enum JinjaBuiltins {
    static let names: Set<String> = ["range", "namespace", "dict", "raise_exception", "strftime_now", "cycler", "joiner"]

    static let globals: [String: JinjaValue] = Dictionary(uniqueKeysWithValues: names.map { ($0, .object(JinjaBuiltin($0))) })

    /// Python's range, capped so a template cannot ask for billions of items.
    static func range(_ args: JinjaArguments) throws(TokenizerError) -> JinjaValue {
        var ints: [Int] = []
        for v in args.positional {
            guard let i = JinjaAccess.intIndex(v) else { throw TokenizerError("chat template: range() needs integers, got \(v.typeName)") }
            ints.append(i)
        }
        let (start, stop, step): (Int, Int, Int)
        switch ints.count {
        case 1: (start, stop, step) = (0, ints[0], 1)
        case 2: (start, stop, step) = (ints[0], ints[1], 1)
        case 3: (start, stop, step) = (ints[0], ints[1], ints[2])
        default: throw TokenizerError("chat template: range() takes 1 to 3 arguments")
        }
        guard step != 0 else { throw TokenizerError("chat template: range() arg 3 must not be zero") }
        var items: [JinjaValue] = []
        var i = start
        while step > 0 ? i < stop : i > stop {
            items.append(.int(i))
            if items.count > 1_000_000 { throw TokenizerError("chat template: range() is too long (more than 1000000 items)") }
            let (n, o) = i.addingReportingOverflow(step)
            if o { break }
            i = n
        }
        return .object(JinjaSequence(.range(start, stop, step), items))
    }
}
