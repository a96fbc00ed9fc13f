/// Parsed form of a chat template.
indirect enum JinjaExpr {
    case literal(JinjaValue)
    case name(String)
    case attribute(JinjaExpr, String)
    case index(JinjaExpr, JinjaExpr)
    case slice(JinjaExpr, JinjaExpr?, JinjaExpr?)
    case call(JinjaExpr, [JinjaExpr])
    case filter(JinjaExpr, String, [JinjaExpr])
    case test(JinjaExpr, String, negated: Bool)
    case unary(String, JinjaExpr)
    case binary(String, JinjaExpr, JinjaExpr)
    case list([JinjaExpr])
    case dict([(JinjaExpr, JinjaExpr)])
    case conditional(JinjaExpr, condition: JinjaExpr, otherwise: JinjaExpr?)
}

indirect enum JinjaNode {
    case text(String)
    case output(JinjaExpr)
    case forLoop(variables: [String], iterable: JinjaExpr, body: [JinjaNode], otherwise: [JinjaNode])
    case conditional(branches: [(JinjaExpr, [JinjaNode])], otherwise: [JinjaNode])
    case set(String, JinjaExpr)
}
