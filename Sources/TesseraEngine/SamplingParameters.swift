/// How a request wants its next tokens chosen, with the OpenAI/vLLM meanings of each field.
public struct SamplingParameters: Sendable, Codable, Equatable {
    /// 0 picks the most likely token (greedy); higher values flatten the distribution.
    public var temperature: Float = 1
    /// Keep only the k most likely tokens; 0 keeps all.
    public var topK: Int = 0
    /// Keep the smallest set of most likely tokens whose probabilities sum to at least p.
    public var topP: Float = 1
    /// Drop tokens less likely than minP times the most likely one.
    public var minP: Float = 0
    /// Divides positive logits (multiplies negative ones) of tokens seen in the prompt or output; 1 is off.
    public var repetitionPenalty: Float = 1
    /// Subtracted once from the logit of every token already generated.
    public var presencePenalty: Float = 0
    /// Subtracted from a token's logit once per time it was generated.
    public var frequencyPenalty: Float = 0
    /// Same seed, same prompt, same parameters: same text.
    public var seed: UInt64?
    public var maxTokens: Int = 256
    /// Generation ends before the first occurrence of any of these; the stop string itself is not returned.
    public var stop: [String] = []
    /// Keep generating past the end-of-sequence token (for benchmarks with exact lengths).
    public var ignoreEOS = false

    public init() {}

    /// Greedy decoding with the given limit.
    public static func greedy(maxTokens: Int) -> SamplingParameters {
        var p = SamplingParameters()
        p.temperature = 0
        p.maxTokens = maxTokens
        return p
    }

    /// Checks every field's range; the message names the field.
    public func validate() throws(SamplingError) {
        guard temperature.isFinite, temperature >= 0 else { throw SamplingError(field: "temperature", "temperature must be >= 0, got \(temperature)") }
        guard topK >= 0 else { throw SamplingError(field: "top_k", "top_k must be >= 0, got \(topK)") }
        guard topP > 0, topP <= 1 else { throw SamplingError(field: "top_p", "top_p must be in (0, 1], got \(topP)") }
        guard minP >= 0, minP <= 1 else { throw SamplingError(field: "min_p", "min_p must be in [0, 1], got \(minP)") }
        guard repetitionPenalty.isFinite, repetitionPenalty > 0 else {
            throw SamplingError(field: "repetition_penalty", "repetition_penalty must be > 0, got \(repetitionPenalty)")
        }
        guard presencePenalty.isFinite, abs(presencePenalty) <= 2 else {
            throw SamplingError(field: "presence_penalty", "presence_penalty must be in [-2, 2], got \(presencePenalty)")
        }
        guard frequencyPenalty.isFinite, abs(frequencyPenalty) <= 2 else {
            throw SamplingError(field: "frequency_penalty", "frequency_penalty must be in [-2, 2], got \(frequencyPenalty)")
        }
        guard maxTokens >= 0 else { throw SamplingError(field: "max_tokens", "max_tokens must be >= 0, got \(maxTokens)") }
        guard stop.count <= 16, stop.allSatisfy({ !$0.isEmpty && $0.utf8.count <= 256 }) else {
            throw SamplingError(field: "stop", "stop takes at most 16 non-empty strings of at most 256 bytes")
        }
    }
}

/// A sampling parameter is out of range.
public struct SamplingError: Error, CustomStringConvertible, Equatable {
    /// The parameter at fault, with the API's name, when there is one.
    public let field: String?
    public let message: String
    public init(field: String? = nil, _ message: String) {
        self.field = field
        self.message = message
    }
    public var description: String { message }
}
