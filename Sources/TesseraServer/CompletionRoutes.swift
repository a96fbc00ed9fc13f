import Foundation
import Hummingbird
import TesseraEngine
import TesseraTokenizer

/// `POST /v1/completions`: every prompt times `n` choices, all in the engine at once.
struct CompletionRoutes {
    let state: ServingState
    var generation: Generation { Generation(state: state) }

    func completions(_ request: Request, _ context: ServerContext) async throws -> Response {
        let tenant = try context.requireTenant()
        let lifetime = await RequestLifetime.watch(context, timeout: state.limits.timeoutSeconds)
        let body = try await RequestBody.decode(CompletionRequest.self, from: request)
        let adapters = try await generation.resolve(model: body.model, adapters: body.sampling.adapters, tenant: tenant)
        let n = try generation.choices(body.sampling.n)
        let logprobs = body.logprobs
        if let k = logprobs, !(0...20).contains(k) { throw APIError.invalid("logprobs must be between 0 and 20, got \(k)", param: "logprobs") }
        let prompts: [[Int32]]
        switch body.prompt {
        case .texts(let t): prompts = t.map { state.tokenizer.encode($0, addSpecial: true) }
        case .tokens(let t): prompts = t
        }
        guard !prompts.isEmpty, prompts.count * n <= 64 else {
            throw APIError.invalid("prompt must hold 1 to \(64 / n) prompts with n = \(n)", param: "prompt")
        }
        let echoLogprobs = (body.echo ?? false) && logprobs != nil
        var requests: [EngineRequest] = []
        for prompt in prompts {
            guard !prompt.isEmpty else { throw APIError.invalid("prompt is empty", param: "prompt") }
            var p = try generation.parameters(body.sampling, maxTokens: body.max_tokens, defaultMaxTokens: 16,
                                              promptTokens: prompt.count + adapters.positions, minTokens: 0, tenant: tenant)
            for i in 0..<n {
                if let seed = p.seed, i > 0 { p.seed = seed &+ 1 }  // each choice its own stream of numbers
                var r = EngineRequest(prompt: prompt, parameters: p, tenant: tenant.id, tenantWeight: tenant.weight,
                                      adapters: adapters.applied, adapterKey: adapters.key, logprobs: logprobs)
                r.promptLogprobs = echoLogprobs
                requests.append(r)
            }
        }
        let echoes = (body.echo ?? false) ? prompts.map { state.tokenizer.decode($0) } : nil
        let lease = try state.limiter.admit(tenant, promptTokens: requests.reduce(0) { $0 + $1.prompt.count })
        let streams = try generation.submit(requests)
        let recorders = requests.map { _ in ServerMetrics.Recorder(state.metrics, tenant: tenant.name, model: body.model) }
        let id = "cmpl-" + context.requestID
        let created = Int(Date().timeIntervalSince1970)
        let tokenizer = state.tokenizer
        let echo: @Sendable (Int) -> String = { index in echoes.map { $0[index / n] } ?? "" }

        if body.sampling.stream ?? false {
            let includeUsage = body.sampling.stream_options?.include_usage ?? false
            let model = body.model
            let merged = Generation.merge(streams, until: lifetime)
            let promptTokens = requests.map(\.prompt.count)
            return Response(status: .ok, headers: SSE.headers, body: .init { writer in
                defer { lifetime.close() }
                var started = Set<Int>()
                var completionTokens = 0
                for await (index, event) in merged {
                    var choice = CompletionChoice(index: index, text: started.insert(index).inserted ? echo(index) : "")
                    switch event {
                    case .prompt(let p):
                        choice.logprobs = CompletionLogprobs.of(p.map { ($0.id, $0.logprob, $0.topLogprobs) }, tokenizer: tokenizer)
                    case .token(let t):
                        recorders[index].token()
                        choice.text += t.text
                        if logprobs != nil { choice.logprobs = CompletionLogprobs.of([(t.id, t.logprob, t.topLogprobs)], tokenizer: tokenizer) }
                    case .finished(let c):
                        recorders[index].finished(c)
                        lease.charge(tokens: c.completionTokens)
                        choice.text += c.text
                        choice.finish_reason = c.reason.rawValue
                        completionTokens += c.completionTokens
                    case .failed(let error):
                        try await writer.write(SSE.error(Generation.apiError(error)))
                        continue
                    }
                    try await writer.write(SSE.event(CompletionResponse(id: id, created: created, model: model, choices: [choice])))
                }
                if let end = lifetime.ended {
                    guard case .timedOut = end else { throw CancellationError() }  // nobody is reading
                    try await writer.write(SSE.error(RequestLifetime.error(end)))
                }
                if includeUsage {
                    let usage = Usage(prompt_tokens: promptTokens.reduce(0, +), completion_tokens: completionTokens)
                    try await writer.write(SSE.event(CompletionResponse(id: id, created: created, model: model, choices: [], usage: usage)))
                }
                try await writer.write(SSE.done)
                try await writer.finish(nil)
            })
        }

        var choices = requests.indices.map { CompletionChoice(index: $0, text: echo($0), logprobs: logprobs == nil ? nil : CompletionLogprobs()) }
        var tokens = Array(repeating: [(Int32, Float?, [TokenLogprob])](), count: requests.count)
        var promptSeen = Array(repeating: 0, count: requests.count)
        var usage = Usage(prompt_tokens: requests.reduce(0) { $0 + $1.prompt.count }, completion_tokens: 0)
        for await (index, event) in Generation.merge(streams, until: lifetime) {
            switch event {
            case .prompt(let p):
                tokens[index] += p.map { ($0.id, $0.logprob, $0.topLogprobs) }
                promptSeen[index] += p.count
            case .token(let t):
                recorders[index].token()
                choices[index].text += t.text
                tokens[index].append((t.id, t.logprob, t.topLogprobs))
            case .finished(let c):
                recorders[index].finished(c)
                lease.charge(tokens: c.completionTokens)
                choices[index].text += c.text
                choices[index].finish_reason = c.reason.rawValue
                usage.completion_tokens += c.completionTokens
            case .failed(let error):
                throw Generation.apiError(error)
            }
        }
        lifetime.close()
        if let end = lifetime.ended { throw RequestLifetime.error(end) }
        if logprobs != nil {
            for i in choices.indices {
                if echoLogprobs && promptSeen[i] == 0 {  // a one-token prompt has no rows to score
                    tokens[i].insert((requests[i].prompt[0], nil, []), at: 0)
                }
                choices[i].logprobs = CompletionLogprobs.of(tokens[i], tokenizer: tokenizer, offset: echoLogprobs ? 0 : echo(i).utf8.count)
            }
        }
        return try .json(CompletionResponse(id: id, created: created, model: body.model, choices: choices, usage: usage))
    }
}

extension CompletionLogprobs {
    /// Parallel arrays from (token, logprob, alternatives); a token without a logprob (the prompt's first) has null
    /// in both.
    static func of(_ tokens: [(Int32, Float?, [TokenLogprob])], tokenizer: Tokenizer, offset: Int = 0) -> CompletionLogprobs {
        var l = CompletionLogprobs()
        var at = offset
        for (id, logprob, top) in tokens {
            let text = tokenizer.decode([id])
            l.tokens.append(text)
            l.token_logprobs.append(logprob)
            l.top_logprobs.append(logprob == nil ? nil : Dictionary(top.map { (tokenizer.decode([$0.id]), $0.logprob) }, uniquingKeysWith: max))
            l.text_offset.append(at)
            at += text.utf8.count
        }
        return l
    }
}
