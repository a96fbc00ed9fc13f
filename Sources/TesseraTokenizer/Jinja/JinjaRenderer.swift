import Foundation

/// Variables visible at one point of a render. jinja2 gives each loop iteration, macro call and block body its own
/// frame: a `set` there is gone when it ends (which is why templates carry state in `namespace`), while `if` shares
/// its enclosing frame. Lookups walk outward; macros see the frame they were defined in, as it is when called.
final class JinjaScope {
    var vars: [String: JinjaValue] = [:]
    let parent: JinjaScope?

    init(parent: JinjaScope?, vars: [String: JinjaValue] = [:]) {
        self.parent = parent
        self.vars = vars
    }

    func lookup(_ name: String) -> JinjaValue? {
        var s: JinjaScope? = self
        while let scope = s {
            if let v = scope.vars[name] { return v }
            s = scope.parent
        }
        return nil
    }
}

/// Limits on what one render may cost: a template is code from a model file, and its variables come from requests.
public struct JinjaLimits: Sendable {
    /// Statements run plus expressions evaluated.
    public var maxSteps = 5_000_000
    public var maxOutputBytes = 16 << 20
    /// Nested macro calls (and recursive loops).
    public var maxCallDepth = 64
    /// Statements and expressions being evaluated inside one another (bounds the native stack a render uses).
    public var maxNesting = 250

    public init() {}
}

/// Runs a parsed template. One per render; not shared across threads.
final class JinjaRenderer {
    var output = ""
    var scope: JinjaScope
    let now: Date
    let limits: JinjaLimits
    private var steps = 0
    var callDepth = 0
    var nesting = 0

    enum Flow { case normal, breakLoop, continueLoop }

    init(variables: [String: JinjaValue], now: Date, limits: JinjaLimits) {
        let globals = JinjaScope(parent: nil, vars: JinjaBuiltins.globals)
        let given = JinjaScope(parent: globals, vars: variables)
        scope = JinjaScope(parent: given)
        self.now = now
        self.limits = limits
    }

    func step() throws(TokenizerError) { try charge(1) }

    /// Counts work done inside one step (a filter over n items costs n).
    func charge(_ n: Int) throws(TokenizerError) {
        steps += n
        if steps > limits.maxSteps { throw TokenizerError("chat template: rendering takes too many steps (more than \(limits.maxSteps))") }
    }

    func enterNesting() throws(TokenizerError) {
        nesting += 1
        if nesting > limits.maxNesting { throw TokenizerError("chat template: evaluation nests deeper than \(limits.maxNesting)") }
    }

    func write(_ text: String) throws(TokenizerError) {
        output += text
        if output.utf8.count > limits.maxOutputBytes {
            throw TokenizerError("chat template: output is larger than \(limits.maxOutputBytes) bytes")
        }
    }

    func lookup(_ name: String) -> JinjaValue { scope.lookup(name) ?? .undefined }

    /// Renders `body` into a fresh buffer (macro calls, block set, filter blocks).
    func capture(_ body: () throws(TokenizerError) -> Void) throws(TokenizerError) -> String {
        let saved = output
        output = ""
        defer { output = saved }
        try body()
        return output
    }

    /// Runs `body` in a child frame of `parent` (default: the current frame).
    func inScope<T>(_ vars: [String: JinjaValue] = [:], parent: JinjaScope? = nil, _ body: () throws(TokenizerError) -> T) throws(TokenizerError) -> T {
        let saved = scope
        scope = JinjaScope(parent: parent ?? saved, vars: vars)
        defer { scope = saved }
        return try body()
    }

    func enterCall() throws(TokenizerError) {
        callDepth += 1
        if callDepth > limits.maxCallDepth { throw TokenizerError("chat template: macro calls nest deeper than \(limits.maxCallDepth)") }
    }

    @discardableResult
    func render(_ nodes: [JinjaNode]) throws(TokenizerError) -> Flow {
        try enterNesting()
        defer { nesting -= 1 }
        for node in nodes {
            try step()
            let flow = try render(node)
            if flow != .normal { return flow }
        }
        return .normal
    }

    private func render(_ node: JinjaNode) throws(TokenizerError) -> Flow {
        switch node {
        case .text(let t):
            try write(t)
        case .output(let e, let line):
            try write(try at(line) { () throws(TokenizerError) in
                let text = try eval(e).pythonString
                _ = try JinjaOperators.checkSize(.string(text))
                return text
            })
        case .conditional(let branches, let otherwise, let line):
            for (test, body) in branches where try at(line, { () throws(TokenizerError) in try eval(test).truthy }) {
                return try render(body)
            }
            return try render(otherwise)
        case .set(let target, let e, let line):
            try at(line) { () throws(TokenizerError) in try assign(target, try eval(e)) }
        case .setBlock(let target, let body, let filter, let line):
            var value = JinjaValue.string(try capture { () throws(TokenizerError) in
                try inScope { () throws(TokenizerError) in _ = try render(body) }
            })
            if let filter { value = try at(line) { () throws(TokenizerError) in try applyFilterChain(filter, to: value) } }
            try at(line) { () throws(TokenizerError) in try assign(target, value) }
        case .forLoop(let loop):
            try at(loop.line) { () throws(TokenizerError) in
                let items = try loopItems(loop, try eval(loop.iterable))
                try runLoop(loop, items, depth: 1, parent: nil)
            }
        case .macro(let def, _):
            scope.vars[def.name] = .object(JinjaMacro(def, closure: scope))
        case .callBlock(let call, let caller, let line):
            try at(line) { () throws(TokenizerError) in
                guard case .call(let callee, let args) = call else { return }
                var evaluated = try evalArguments(args)
                evaluated.keyword.append(("caller", .object(JinjaMacro(caller, closure: scope))))
                try write(try callValue(try eval(callee), evaluated).pythonString)
            }
        case .filterBlock(let filter, let body, let line):
            let text = try capture { () throws(TokenizerError) in try inScope { () throws(TokenizerError) in _ = try render(body) } }
            try write(try at(line) { () throws(TokenizerError) in try applyFilterChain(filter, to: .string(text)).pythonString })
        case .with(let assignments, let body, let line):
            let values = try at(line) { () throws(TokenizerError) in try assignments.map { (a) throws(TokenizerError) in (a.0, try eval(a.1)) } }
            return try inScope { () throws(TokenizerError) -> Flow in
                for (target, value) in values { try assign(target, value) }
                return try render(body)
            }
        case .generation(let body, _):
            // A call block in jinja2: its own frame; break/continue cannot cross it.
            try inScope { () throws(TokenizerError) in _ = try render(body) }
        case .breakLoop: return .breakLoop
        case .continueLoop: return .continueLoop
        }
        return .normal
    }

    /// Adds the line to errors raised without one.
    func at<T>(_ line: Int, _ body: () throws(TokenizerError) -> T) throws(TokenizerError) -> T {
        do {
            return try body()
        } catch {
            if error.message.hasSuffix(")"), error.message.range(of: "(line ") != nil { throw error }
            if error.message.hasPrefix("chat template raised: ") { throw error }
            throw TokenizerError(error.message + " (line \(line))")
        }
    }

    func assign(_ target: JinjaTarget, _ value: JinjaValue) throws(TokenizerError) {
        switch target {
        case .name(let n):
            scope.vars[n] = value
        case .attribute(let ns, let attr):
            guard case .object(let o) = lookup(ns), let namespace = o as? JinjaNamespace else {
                throw TokenizerError("chat template: cannot assign attribute on non-namespace object")
            }
            try namespace.set(attr, value)
        case .tuple(let targets):
            let items = try value.iterate()
            guard items.count == targets.count else {
                throw TokenizerError(items.count > targets.count
                    ? "chat template: too many values to unpack (expected \(targets.count))"
                    : "chat template: not enough values to unpack (expected \(targets.count), got \(items.count))")
            }
            for (t, v) in zip(targets, items) { try assign(t, v) }
        }
    }

    // MARK: loops

    func loopItems(_ loop: JinjaForLoop, _ iterable: JinjaValue) throws(TokenizerError) -> [JinjaValue] {
        var items = try iterable.iterate()
        if let condition = loop.condition {
            // The filter sees the loop target but not `loop`.
            var kept: [JinjaValue] = []
            for item in items {
                try step()
                let keep = try inScope { () throws(TokenizerError) -> Bool in
                    try assign(loop.target, item)
                    return try eval(condition).truthy
                }
                if keep { kept.append(item) }
            }
            items = kept
        }
        return items
    }

    /// Runs a for loop over `items` (recursive loops come back here through `loop(...)`).
    func runLoop(_ loop: JinjaForLoop, _ items: [JinjaValue], depth: Int, parent: JinjaScope?) throws(TokenizerError) {
        let outer = parent ?? scope
        if items.isEmpty {
            try inScope(parent: outer) { () throws(TokenizerError) in _ = try render(loop.otherwise) }
            return
        }
        let state = JinjaLoop(items: items, depth: depth, definition: loop.recursive ? loop : nil, scope: outer)
        for index in items.indices {
            try step()
            state.index = index
            let flow = try inScope(["loop": .object(state)], parent: outer) { () throws(TokenizerError) -> Flow in
                try assign(loop.target, items[index])
                return try render(loop.body)
            }
            if flow == .breakLoop { break }
        }
    }
}
