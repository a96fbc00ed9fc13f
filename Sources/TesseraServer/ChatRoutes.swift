import Foundation
import Hummingbird
import TesseraEngine
import TesseraTokenizer

/// `POST /v1/chat/completions`: the model's chat template, then `n` choices in the engine at once.
struct ChatRoutes {
    let state: ServingState
    var generation: Generation { Generation(state: state) }

    func chat(_ request: Request, _ context: ServerContext) async throws -> Response {
        let tenant = try context.requireTenant()
        let lifetime = await RequestLifetime.watch(context, timeout: state.limits.timeoutSeconds)
        let body = try await RequestBody.decode(ChatRequest.self, from: request)
        let adapters = try await generation.resolve(model: body.model, adapters: body.sampling.adapters, tenant: tenant)
        let n = try generation.choices(body.sampling.n)
        guard !body.messages.isEmpty else { throw APIError.invalid("messages must not be empty", param: "messages") }
        for (i, m) in body.messages.enumerated() where !["system", "user", "assistant", "developer", "tool"].contains(m.role) {
            throw APIError.invalid("messages[\(i)].role '\(m.role)' is not one of system, user, assistant, developer, tool", param: "messages[\(i)].role")
        }
        let top = body.top_logprobs
        if let k = top {
            guard (0...20).contains(k) else { throw APIError.invalid("top_logprobs must be between 0 and 20, got \(k)", param: "top_logprobs") }
            guard body.logprobs == true else { throw APIError.invalid("top_logprobs needs logprobs set to true", param: "top_logprobs") }
        }
        let logprobs: Int? = body.logprobs == true ? (top ?? 0) : nil
        guard let template = state.chatTemplate else { throw APIError.invalid("the model has no chat template; use /v1/completions") }
        let text: String
        do {
            text = try template.render(messages: body.messages.map { ($0.role == "developer" ? "system" : $0.role, $0.content) },
                                       addGenerationPrompt: true, tokenizer: state.tokenizer)
        } catch {
            throw APIError.invalid("the chat template could not render these messages: \(error)", param: "messages")
        }
        let prompt = state.tokenizer.encodeRendered(text)
        var p = try generation.parameters(body.sampling, maxTokens: body.max_completion_tokens ?? body.max_tokens,
                                          defaultMaxTokens: .max, promptTokens: prompt.count + adapters.positions, minTokens: 1, tenant: tenant)
        var requests: [EngineRequest] = []
        for i in 0..<n {
            if let seed = p.seed, i > 0 { p.seed = seed &+ 1 }
            requests.append(EngineRequest(prompt: prompt, parameters: p, tenant: tenant.id, tenantWeight: tenant.weight,
                                          adapters: adapters.applied, adapterKey: adapters.key, logprobs: logprobs))
        }
        let lease = try state.limiter.admit(tenant, promptTokens: requests.reduce(0) { $0 + $1.prompt.count })
        let streams = try generation.submit(requests)
        let recorders = requests.map { _ in ServerMetrics.Recorder(state.metrics, tenant: tenant.name, model: body.model) }
        let id = "chatcmpl-" + context.requestID
        let created = Int(Date().timeIntervalSince1970)
        let tokenizer = state.tokenizer
        let model = body.model

        if body.sampling.stream ?? false {
            let includeUsage = body.sampling.stream_options?.include_usage ?? false
            let merged = Generation.merge(streams, until: lifetime)
            return Response(status: .ok, headers: SSE.headers, body: .init { writer in
                defer { lifetime.close() }
                func chunk(_ choices: [ChatChunkChoice], usage: Usage? = nil) -> ByteBuffer {
                    SSE.event(ChatChunk(id: id, created: created, model: model, choices: choices, usage: usage))
                }
                // The first chunk of each choice carries the role, as OpenAI's do. It goes out when the choice's first
                // token does, after the prompt's prefill, as vLLM sends it: clients (vLLM's bench among them) time
                // the first token from the first chunk with choices.
                var announced = Set<Int>()
                func announce(_ index: Int) async throws {
                    guard announced.insert(index).inserted else { return }
                    try await writer.write(chunk([ChatChunkChoice(index: index, delta: ChatDelta(role: "assistant", content: ""))]))
                }
                var completionTokens = 0
                for await (index, event) in merged {
                    if case .token = event { try await announce(index) } else if case .finished = event { try await announce(index) }
                    switch event {
                    case .prompt: break
                    case .token(let t):
                        recorders[index].token()
                        let lp = logprobs == nil ? nil : ChatLogprobs(content: [ChatTokenLogprob(t, tokenizer: tokenizer)])
                        try await writer.write(chunk([ChatChunkChoice(index: index, delta: ChatDelta(content: t.text), logprobs: lp)]))
                    case .finished(let c):
                        recorders[index].finished(c)
                        lease.charge(tokens: c.completionTokens)
                        completionTokens += c.completionTokens
                        try await writer.write(chunk([ChatChunkChoice(index: index, delta: ChatDelta(content: c.text.isEmpty ? nil : c.text),
                                                                      finish_reason: c.reason.rawValue)]))
                    case .failed(let error):
                        try await writer.write(SSE.error(Generation.apiError(error)))
                    }
                }
                if let end = lifetime.ended {
                    guard case .timedOut = end else { throw CancellationError() }  // nobody is reading
                    try await writer.write(SSE.error(RequestLifetime.error(end)))
                }
                if includeUsage {
                    try await writer.write(chunk([], usage: Usage(prompt_tokens: prompt.count * n, completion_tokens: completionTokens)))
                }
                try await writer.write(SSE.done)
                try await writer.finish(nil)
            })
        }

        var texts = Array(repeating: "", count: n)
        var tokens = Array(repeating: [GeneratedToken](), count: n)
        var reasons = Array(repeating: "stop", count: n)
        var usage = Usage(prompt_tokens: prompt.count * n, completion_tokens: 0)
        for await (index, event) in Generation.merge(streams, until: lifetime) {
            switch event {
            case .prompt: break
            case .token(let t):
                recorders[index].token()
                texts[index] += t.text
                tokens[index].append(t)
            case .finished(let c):
                recorders[index].finished(c)
                lease.charge(tokens: c.completionTokens)
                texts[index] += c.text
                reasons[index] = c.reason.rawValue
                usage.completion_tokens += c.completionTokens
            case .failed(let error):
                throw Generation.apiError(error)
            }
        }
        lifetime.close()
        if let end = lifetime.ended { throw RequestLifetime.error(end) }
        let choices = (0..<n).map { i in
            ChatChoice(index: i, message: ChatMessage(content: texts[i]),
                       logprobs: logprobs == nil ? nil : ChatLogprobs(content: tokens[i].map { ChatTokenLogprob($0, tokenizer: tokenizer) }),
                       finish_reason: reasons[i])
        }
        return try .json(ChatResponse(id: id, created: created, model: model, choices: choices, usage: usage))
    }
}

extension ChatTokenLogprob {
    init(_ t: GeneratedToken, tokenizer: Tokenizer) {
        token = tokenizer.decode([t.id])
        logprob = t.logprob ?? 0
        bytes = tokenizer.bytes(of: t.id)
        top_logprobs = t.topLogprobs.map { Alternative(token: tokenizer.decode([$0.id]), logprob: $0.logprob, bytes: tokenizer.bytes(of: $0.id)) }
    }
}
