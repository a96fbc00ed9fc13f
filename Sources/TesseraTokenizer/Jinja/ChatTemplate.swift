import Foundation

/// A model's chat template, parsed and checked once, rendered per request exactly as transformers'
/// `apply_chat_template` renders it with jinja2 (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks,
/// loop controls, `{% generation %}`, its `tojson`, `raise_exception` and `strftime_now`).
public struct ChatTemplate: @unchecked Sendable {
    private let nodes: [JinjaNode]
    public var limits = JinjaLimits()

    /// Parses the template; an unknown statement, filter, test or global function is an error here, with its line.
    public init(_ source: String) throws(TokenizerError) {
        nodes = try JinjaParser.parse(source)
        try JinjaChecker.check(nodes)
    }

    /// Renders with these variables (transformers passes `messages`, `tools`, `documents`, `add_generation_prompt`
    /// and every extra keyword such as `bos_token`). `now` is the clock of `strftime_now` (default: now).
    /// A template's own `raise_exception(msg)` throws "chat template raised: msg".
    public func render(_ variables: [String: JinjaValue], now: Date? = nil) throws(TokenizerError) -> String {
        let r = JinjaRenderer(variables: variables, now: now ?? Date(), limits: limits)
        try r.render(nodes)
        return r.output
    }

    /// Renders role/content messages; `context` adds variables (such as `bos_token`). `tools` and `documents` are
    /// None unless the context gives them, as in transformers.
    public func render(
        messages: [(role: String, content: String)], addGenerationPrompt: Bool,
        context: [String: JinjaValue] = [:]
    ) throws(TokenizerError) -> String {
        var vars = context
        vars["messages"] = .array(messages.map { .dict([("role", .string($0.role)), ("content", .string($0.content))]) })
        vars["add_generation_prompt"] = .bool(addGenerationPrompt)
        return try applyChatTemplate(vars)
    }

    /// Renders as transformers' `apply_chat_template(tokenize=False)` does with these arguments: `tools` and
    /// `documents` are None unless given, `add_generation_prompt` false unless given, a message's keys whose value
    /// is None are dropped (templates test for a missing key), and each message's reasoning is copied between the
    /// names templates read it under (`aliasReasoningFields`).
    public func applyChatTemplate(_ variables: [String: JinjaValue], now: Date? = nil) throws(TokenizerError) -> String {
        var vars: [String: JinjaValue] = ["tools": .none, "documents": .none, "add_generation_prompt": .bool(false)]
        vars.merge(variables) { $1 }
        if case .array(let messages)? = vars["messages"] {
            let kept: [JinjaValue] = messages.map { message in
                guard case .dict(let pairs) = message else { return message }
                return .dict(pairs.filter { !$0.1.isNone })
            }
            vars["messages"] = Self.aliasReasoningFields(.array(kept))
        }
        return try render(vars, now: now)
    }
}

extension ChatTemplate {
    /// Renders with the tokenizer's special tokens in scope (`bos_token`, `eos_token`), as transformers does.
    public func render(
        messages: [(role: String, content: String)], addGenerationPrompt: Bool, tokenizer: Tokenizer
    ) throws(TokenizerError) -> String {
        func tokenText(_ id: Int32?) -> JinjaValue {
            guard let id, id >= 0, Int(id) < tokenizer.tokens.count else { return .undefined }
            return .string(tokenizer.tokens[Int(id)])
        }
        return try render(messages: messages, addGenerationPrompt: addGenerationPrompt,
                          context: ["bos_token": tokenText(tokenizer.bosID), "eos_token": tokenText(tokenizer.eosID)])
    }

    /// transformers copies a message's reasoning between the names templates read it under before rendering
    /// (`reasoning_content`, `thinking`, `reasoning`): `{"thinking": r, **message, "reasoning_content": r}`.
    /// Callers building `messages` from an API request apply this to match it.
    public static func aliasReasoningFields(_ messages: JinjaValue) -> JinjaValue {
        guard case .array(let items) = messages else { return messages }
        return .array(items.map { message in
            guard case .dict(let pairs) = message else { return message }
            var reasoning: JinjaValue?
            for key in ["reasoning_content", "thinking", "reasoning"] {
                if let v = message.lookup(key), !v.isNone { reasoning = v; break }
            }
            guard let reasoning else { return message }
            var out: [(String, JinjaValue)] = [("thinking", reasoning)]
            for (k, v) in pairs {
                if let i = out.firstIndex(where: { $0.0 == k }) { out[i].1 = v } else { out.append((k, v)) }
            }
            if let i = out.firstIndex(where: { $0.0 == "reasoning_content" }) { out[i].1 = reasoning } else { out.append(("reasoning_content", reasoning)) }
            return .dict(out)
        })
    }
}
