import Foundation
import Hummingbird
import TesseraEngine

/// Turning an API request into engine requests, and the engine's refusals into API errors.
struct Generation {
    let state: ServingState

    /// The base model by its id; anything else is unknown (adapters come with the adapters API).
    func resolveModel(_ name: String) throws -> [String] {
        guard name == state.modelID else {
            throw APIError(.notFound, "The model '\(name)' does not exist or you do not have access to it.", param: "model", code: "model_not_found")
        }
        return []
    }

    /// Sampling parameters from the request's fields; out-of-range values are 400s naming the field.
    func parameters(_ f: SamplingFields, maxTokens: Int?, defaultMaxTokens: Int, promptTokens: Int, minTokens: Int) throws -> SamplingParameters {
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
        if let m = maxTokens {
            guard m >= minTokens else { throw APIError.invalid("max_tokens must be at least \(minTokens), got \(m)", param: "max_tokens") }
            guard promptTokens + m <= context else { throw contextExceeded(prompt: promptTokens, completion: m) }
            p.maxTokens = m
        } else {
            guard promptTokens < context else { throw contextExceeded(prompt: promptTokens, completion: nil) }
            p.maxTokens = min(defaultMaxTokens, context - promptTokens)
        }
        do { try p.validate() } catch { throw APIError.invalid(error.message, param: error.message.split(separator: " ").first.map(String.init)) }
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
    /// away) ends the others, which cancels their requests in the engine.
    static func merge(_ streams: [AsyncStream<EngineEvent>]) -> AsyncStream<(Int, EngineEvent)> {
        let (merged, continuation) = AsyncStream.makeStream(of: (Int, EngineEvent).self)
        let remaining = Counter(streams.count)
        let tasks = streams.enumerated().map { index, stream in
            Task {
                for await event in stream { continuation.yield((index, event)) }
                if remaining.decrement() == 0 { continuation.finish() }
            }
        }
        continuation.onTermination = { _ in tasks.forEach { $0.cancel() } }
        return merged
    }
}

/// A count shared by tasks.
final class Counter: @unchecked Sendable {
    private var value: Int
    private let lock = NSLock()
    init(_ value: Int) { self.value = value }
    func decrement() -> Int { lock.withLock { value -= 1; return value } }
}
