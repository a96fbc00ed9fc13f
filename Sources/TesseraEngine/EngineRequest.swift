import TesseraModel

/// One generation asked of the engine: a tokenized prompt, how to sample, and whose it is.
public struct EngineRequest: Sendable {
    public var prompt: [Int32]
    public var parameters: SamplingParameters
    /// Tenant for fairness (DESIGN 3.6), and its weight (the registry's, current as of this request).
    public var tenant: String
    public var tenantWeight: Double
    /// The adapters applied to this sequence (one of any kind, or LoRAs to compose), already loaded.
    public var adapters: [AppliedAdapter]
    /// Names the adapter set for the cap on distinct adapters per step and for metrics; nil for the base model.
    public var adapterKey: String?
    /// nil: no logprobs; k >= 0: the chosen token's logprob and the k most likely alternatives (at most 20).
    public var logprobs: Int?
    /// Also the prompt tokens' logprobs (with `logprobs`' alternatives), as `.prompt` events before the first token.
    public var promptLogprobs = false

    public init(prompt: [Int32], parameters: SamplingParameters, tenant: String = "default", tenantWeight: Double = 1,
                adapters: [AppliedAdapter] = [], adapterKey: String? = nil, logprobs: Int? = nil) {
        self.prompt = prompt
        self.parameters = parameters
        self.tenant = tenant
        self.tenantWeight = tenantWeight
        self.adapters = adapters
        self.adapterKey = adapterKey
        self.logprobs = logprobs
    }

    /// Positions an adapter takes before the prompt (virtual tokens or prefix entries).
    var adapterPositions: Int { adapters.reduce(0) { $0 + $1.weights.positions } }
}

/// What a request's stream carries, in order: prompt logprobs when asked (in one or more pieces, in order), tokens,
/// then exactly one `finished` or `failed`.
public enum EngineEvent: Sendable {
    /// Logprobs of the next prompt tokens; the prompt's first token has none (nothing comes before it).
    case prompt([PromptToken])
    case token(GeneratedToken)
    case finished(Completion)
    /// The engine could not finish the request (the stream ends here).
    case failed(EngineError)
}

public struct GeneratedToken: Sendable, Equatable {
    public var id: Int32
    /// Text that became final with this token (may be empty: a piece of a character, or text held back while it
    /// could still turn into a stop string).
    public var text: String
    /// log p(token) under the model's distribution (before penalties and temperature), when asked.
    public var logprob: Float?
    /// The most likely tokens and their logprobs, most likely first, when asked.
    public var topLogprobs: [TokenLogprob]
}

public struct PromptToken: Sendable, Equatable {
    public var id: Int32
    public var logprob: Float?
    public var topLogprobs: [TokenLogprob]
}

public struct TokenLogprob: Sendable, Equatable {
    public var id: Int32
    public var logprob: Float
}

public struct Completion: Sendable, Equatable {
    public var reason: FinishReason
    /// Text held back until the end (a partial stop string that did not complete, an unfinished character).
    public var text: String
    public var promptTokens: Int
    public var completionTokens: Int
}
