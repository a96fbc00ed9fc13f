import Foundation
import Hummingbird
import TesseraAdapters
import TesseraEngine
import TesseraModel

/// Turning an API request into engine requests, and the engine's refusals into API errors.
struct Generation {
    let state: ServingState

    /// The adapters a request runs with: `model` is the base model's id or one of the tenant's adapters, and the
    /// `adapters` extension composes several (with the base as `model`). Anything else answers 404, as if absent.
    func resolve(model: String, adapters uses: [SamplingFields.AdapterUse]?, tenant: Tenant) async throws -> ResolvedAdapters {
        var names: [(String, Float)] = []
        if model != state.modelID { names.append((model, 1)) }
        if let uses, !uses.isEmpty {
            guard model == state.modelID else {
                throw APIError.invalid("with 'adapters', 'model' must be the base model '\(state.modelID)'", param: "adapters")
            }
            names += uses.map { ($0.name, $0.weight ?? 1) }
        }
        var applied: [AppliedAdapter] = [], keys: [String] = []
        for (name, weight) in names {
            guard weight.isFinite, abs(weight) <= 100 else { throw APIError.invalid("adapter weight must be finite and at most 100 in size", param: "adapters") }
            guard ModelName.isValid(name), let record = try state.registry.visibleAdapter(tenantID: tenant.id, name: name) else {
                throw APIError(.notFound, "The model '\(name)' does not exist or you do not have access to it.",
                               param: name == model ? "model" : "adapters", code: "model_not_found")
            }
            let weights: AdapterWeights
            do { weights = try await state.adapters.weights(id: record.storeID) } catch {
                throw APIError(.internalServerError, "adapter '\(name)' could not be loaded: \(error)")
            }
            applied.append(AppliedAdapter(weights, scale: weight))
            keys.append(record.storeID)
            state.metrics.remember(adapterKey: record.storeID, name: name)
        }
        return ResolvedAdapters(applied: applied, key: keys.isEmpty ? nil : keys.joined(separator: "+"))
    }

    /// Sampling parameters from the request's fields; out-of-range values are 400s naming the field. `max_tokens`
    /// is bounded by the server's `--max-tokens-limit` and the tenant's own ceiling; without it, a request gets the
    /// route's default within those bounds.
    func parameters(_ f: SamplingFields, maxTokens: Int?, defaultMaxTokens: Int, promptTokens: Int, minTokens: Int,
                    tenant: Tenant) throws -> SamplingParameters {
        var p = SamplingParameters()
        p.temperature = f.temperature ?? 1
        p.topP = f.top_p ?? 1
        p.topK = f.top_k ?? 0
        p.minP = f.min_p ?? 0
        p.repetitionPenalty = f.repetition_penalty ?? 1
        p.presencePenalty = f.presence_penalty ?? 0
        p.frequencyPenalty = f.frequency_penalty ?? 0
        p.stop = f.stop?.values ?? []
        p.ignoreEOS = f.ignore_eos ?? false
        if let seed = f.seed { p.seed = UInt64(bitPattern: seed) }
        let context = state.contextLength
        let serverCap = state.limits.maxTokens ?? context
        if let m = maxTokens {
            guard m >= minTokens else { throw APIError.invalid("max_tokens must be at least \(minTokens), got \(m)", param: "max_tokens") }
            // Past the context (no cap set) is OpenAI's context_length_exceeded, below.
            guard state.limits.maxTokens == nil || m <= serverCap else {
                throw APIError.invalid("max_tokens is \(m); this server allows at most \(serverCap)", param: "max_tokens", code: "max_tokens_exceeded")
            }
            if let ceiling = tenant.maxTokens, m > ceiling {
                throw APIError.invalid("max_tokens is \(m); tenant '\(tenant.name)' may ask for at most \(ceiling)", param: "max_tokens", code: "max_tokens_exceeded")
            }
            guard promptTokens + m <= context else { throw contextExceeded(prompt: promptTokens, completion: m) }
            p.maxTokens = m
        } else {
            guard promptTokens < context else { throw contextExceeded(prompt: promptTokens, completion: nil) }
            p.maxTokens = min(defaultMaxTokens, serverCap, tenant.maxTokens ?? .max, context - promptTokens)
        }
        do { try p.validate() } catch { throw APIError.invalid(error.message, param: error.field) }
        return p
    }

    func contextExceeded(prompt: Int, completion: Int?) -> APIError {
        let c = state.contextLength
        let message = completion.map {
            "This model's maximum context length is \(c) tokens. However, you requested \(prompt + $0) tokens (\(prompt) in the prompt, \($0) for the completion). Please reduce the prompt or the completion length."
        } ?? "This model's maximum context length is \(c) tokens. However, your prompt has \(prompt) tokens. Please reduce the prompt."
        return APIError.invalid(message, param: "messages", code: "context_length_exceeded")
    }

    func choices(_ n: Int?) throws -> Int {
        let n = n ?? 1
        guard (1...16).contains(n) else { throw APIError.invalid("n must be between 1 and 16, got \(n)", param: "n") }
        return n
    }

    /// Submits every request; all are accepted or none (a refusal cancels the ones already queued).
    func submit(_ requests: [EngineRequest]) throws -> [AsyncStream<EngineEvent>] {
        var streams: [AsyncStream<EngineEvent>] = []
        for r in requests {
            do {
                streams.append(try state.engine.submit(r))
            } catch {
                throw Self.apiError(error)
            }
        }
        return streams
    }

    static func apiError(_ e: EngineError) -> APIError {
        switch e.kind {
        case .invalid: return APIError.invalid(e.message)
        case .tooLarge: return APIError.invalid(e.message, code: "context_length_exceeded")
        case .queueFull:
            var error = APIError(.tooManyRequests, e.message, code: "queue_full")
            error.headers[.retryAfter] = "1"
            return error
        case .shuttingDown: return APIError(.serviceUnavailable, e.message)
        case .modelFailure: return APIError(.internalServerError, e.message)
        }
    }

    /// Events of several streams as one, tagged with the stream's index. Ending the merged stream (the client went
    /// away, the request's time ran out, the task reading it was cancelled) ends the others, which cancels their
    /// requests in the engine.
    static func merge(_ streams: [AsyncStream<EngineEvent>], until lifetime: RequestLifetime) -> AsyncStream<(Int, EngineEvent)> {
        let (merged, continuation) = AsyncStream.makeStream(of: (Int, EngineEvent).self)
        let remaining = Counter(streams.count)
        let tasks = streams.enumerated().map { index, stream in
            Task {
                for await event in stream { continuation.yield((index, event)) }
                if remaining.decrement() == 0 { continuation.finish() }
            }
        }
        continuation.onTermination = { _ in tasks.forEach { $0.cancel() } }
        lifetime.onEnd { continuation.finish() }
        return merged
    }
}

struct ResolvedAdapters {
    var applied: [AppliedAdapter]
    /// The adapter set's key for the engine (per-step cap, metrics): store ids, which change with each version.
    var key: String?
    /// Positions the adapters take before the prompt.
    var positions: Int { applied.reduce(0) { $0 + $1.weights.positions } }
}

/// A count shared by tasks.
final class Counter: @unchecked Sendable {
    private var value: Int
    private let lock = NSLock()
    init(_ value: Int) { self.value = value }
    func decrement() -> Int { lock.withLock { value -= 1; return value } }
}
