import TesseraKernels
import TesseraModel
import TesseraTokenizer

/// Why a generation ended, with OpenAI's names.
public enum FinishReason: String, Sendable, Codable {
    /// End-of-sequence token or a stop string.
    case stop
    /// max_tokens or the context length.
    case length
}

/// What a finished generation produced.
public struct GenerationResult: Sendable {
    public var text = ""
    public var tokens: [Int32] = []
    public var finishReason: FinishReason = .length
    public var promptTokens = 0
}

/// Generates one sequence token by token: prefill, then decode with a sampler, incremental detokenizer and stop
/// strings. The batching engine (DESIGN 1, Engine) replaces this loop for the server; the CLI and tests use it directly.
public struct Generator: Sendable {
    public let model: any LanguageModel
    public let tokenizer: Tokenizer
    public let cacheType: KVCacheType

    public init(model: any LanguageModel, tokenizer: Tokenizer, cacheType: KVCacheType = .standard) {
        self.model = model
        self.tokenizer = tokenizer
        self.cacheType = cacheType
    }

    /// Runs to completion, calling `onText` with each piece of text as soon as it is final.
    public func generate(
        prompt: [Int32], parameters: SamplingParameters, adapters: [AppliedAdapter] = [],
        onText: (String) -> Void = { _ in }
    ) throws -> GenerationResult {
        try parameters.validate()
        guard !prompt.isEmpty else { throw SamplingError("the prompt is empty") }
        let context = model.config.contextLength
        let reserved = adapters.reduce(0) { $0 + $1.weights.positions }  // virtual tokens and prefix entries
        guard reserved + prompt.count < context else {
            throw SamplingError("the prompt has \(prompt.count) tokens (and the adapter \(reserved) positions); the context holds \(context)")
        }
        let budget = min(parameters.maxTokens, context - reserved - prompt.count)
        var result = GenerationResult(promptTokens: prompt.count)
        guard budget > 0 else { return result }

        let cache = model.makeCache(capacity: reserved + prompt.count + budget, type: cacheType)
        var sampler = Sampler(parameters: parameters, prompt: prompt)
        var detok = IncrementalDetokenizer(tokenizer: tokenizer)
        var stops = StopMatcher(stops: parameters.stop)
        var logits = try model.forward(tokens: prompt, cache: cache, outputs: [prompt.count - 1], adapters: adapters)
        while true {
            let token = sampler.sample(logits[...])
            sampler.accept(token)
            if tokenizer.isEndOfGeneration(token) && !parameters.ignoreEOS {
                result.finishReason = .stop
                break
            }
            result.tokens.append(token)
            // Other control tokens print nothing.
            let piece = tokenizer.isControl(token) ? "" : detok.append(token)
            let (emit, stopped) = stops.append(piece)
            if !emit.isEmpty { result.text += emit; onText(emit) }
            if stopped { result.finishReason = .stop; return result }
            if result.tokens.count >= budget { break }
            logits = try model.forward(tokens: [token], cache: cache, outputs: [0], adapters: adapters)
        }
        let rest = stops.append(detok.flush()).emit + stops.flush()
        if !rest.isEmpty { result.text += rest; onText(rest) }
        return result
    }
}
