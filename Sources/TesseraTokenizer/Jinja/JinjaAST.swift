/// Parsed form of a template: jinja2's node types, as far as templates without a loader can use them.
indirect enum JinjaExpr {
    case constant(JinjaValue)
    case name(String, line: Int)
    case list([JinjaExpr])
    case tuple([JinjaExpr])
    case dict([(JinjaExpr, JinjaExpr)])
    case getattr(JinjaExpr, String)
    case getitem(JinjaExpr, JinjaExpr)
    case slice(JinjaExpr, start: JinjaExpr?, stop: JinjaExpr?, step: JinjaExpr?)
    case call(JinjaExpr, JinjaCallArgs)
    /// `value | name(args)`; the value is nil in `{% filter %}` and block `{% set %}` (the body is the value).
    case filter(JinjaExpr?, String, JinjaCallArgs, line: Int)
    case test(JinjaExpr, String, JinjaCallArgs, negated: Bool, line: Int)
    case not(JinjaExpr)
    case negative(JinjaExpr)
    case positive(JinjaExpr)
    case binary(JinjaBinary, JinjaExpr, JinjaExpr)
    case and(JinjaExpr, JinjaExpr)
    case or(JinjaExpr, JinjaExpr)
    /// `a < b <= c`: each comparison with its left neighbour, all must hold.
    case compare(JinjaExpr, [(JinjaCompare, JinjaExpr)])
    /// `a ~ b ~ c`.
    case concat([JinjaExpr])
    case conditional(JinjaExpr, test: JinjaExpr, otherwise: JinjaExpr?)
}

enum JinjaBinary: String {
    case add = "+", subtract = "-", multiply = "*", divide = "/", floorDivide = "//", modulo = "%", power = "**"
}

enum JinjaCompare: String {
    case eq = "==", ne = "!=", lt = "<", le = "<=", gt = ">", ge = ">=", `in` = "in", notIn = "not in"
}

struct JinjaCallArgs {
    var positional: [JinjaExpr] = []
    var keyword: [(String, JinjaExpr)] = []
    var star: JinjaExpr?
    var doubleStar: JinjaExpr?
}

/// Where `{% set %}`, `{% for %}` put values: a name, `ns.attr`, or a tuple of targets.
indirect enum JinjaTarget {
    case name(String)
    case attribute(String, String)
    case tuple([JinjaTarget])
}

final class JinjaMacroDefinition {
    let name: String
    let parameters: [(String, JinjaExpr?)]
    let body: [JinjaNode]
    /// Whether the body reads `varargs` / `kwargs` / `caller` (jinja2 accepts extra arguments only then).
    let usesVarargs: Bool
    let usesKwargs: Bool
    let usesCaller: Bool

    init(name: String, parameters: [(String, JinjaExpr?)], body: [JinjaNode], usesVarargs: Bool, usesKwargs: Bool, usesCaller: Bool) {
        self.name = name
        self.parameters = parameters
        self.body = body
        self.usesVarargs = usesVarargs
        self.usesKwargs = usesKwargs
        self.usesCaller = usesCaller
    }
}

struct JinjaForLoop {
    let target: JinjaTarget
    let iterable: JinjaExpr
    let condition: JinjaExpr?
    let recursive: Bool
    let body: [JinjaNode]
    let otherwise: [JinjaNode]
    let line: Int
}

indirect enum JinjaNode {
    case text(String)
    case output(JinjaExpr, line: Int)
    case forLoop(JinjaForLoop)
    case conditional(branches: [(JinjaExpr, [JinjaNode])], otherwise: [JinjaNode], line: Int)
    case set(JinjaTarget, JinjaExpr, line: Int)
    /// `{% set x %}…{% endset %}`, with an optional filter chain applied to the body.
    case setBlock(JinjaTarget, body: [JinjaNode], filter: JinjaExpr?, line: Int)
    case macro(JinjaMacroDefinition, line: Int)
    /// `{% call(params) macro(args) %}body{% endcall %}`.
    case callBlock(JinjaExpr, caller: JinjaMacroDefinition, line: Int)
    case filterBlock(JinjaExpr, body: [JinjaNode], line: Int)
    case with(assignments: [(JinjaTarget, JinjaExpr)], body: [JinjaNode], line: Int)
    /// transformers' `{% generation %}`: renders its body (in its own scope, as jinja2's call block does).
    case generation([JinjaNode], line: Int)
    case breakLoop(line: Int)
    case continueLoop(line: Int)
}
