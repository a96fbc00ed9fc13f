/// The sampling fields `/v1/completions` and `/v1/chat/completions` share, with vLLM's extensions.
struct SamplingFields: Decodable {
    var temperature: Float?
    var top_p: Float?
    var n: Int?
    var stop: StopStrings?
    var seed: Int64?
    var presence_penalty: Float?
    var frequency_penalty: Float?
    var user: String?
    var stream: Bool?
    var stream_options: StreamOptions?
    // Extensions (documented in the README), as vLLM names them.
    var top_k: Int?
    var min_p: Float?
    var repetition_penalty: Float?
    var ignore_eos: Bool?
    var adapters: [AdapterUse]?

    struct StreamOptions: Decodable {
        var include_usage: Bool?
    }

    struct AdapterUse: Decodable {
        var name: String
        var weight: Float?
    }
}

/// `POST /v1/completions`.
struct CompletionRequest: Decodable {
    var model: String
    var prompt: Prompt
    var max_tokens: Int?
    var echo: Bool?
    /// Number of top alternatives per token (0-5 in OpenAI's API; up to 20 here).
    var logprobs: Int?
    var sampling: SamplingFields

    enum CodingKeys: String, CodingKey { case model, prompt, max_tokens, echo, logprobs }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decode(String.self, forKey: .model)
        prompt = try c.decode(Prompt.self, forKey: .prompt)
        max_tokens = try c.decodeIfPresent(Int.self, forKey: .max_tokens)
        echo = try c.decodeIfPresent(Bool.self, forKey: .echo)
        logprobs = try c.decodeIfPresent(Int.self, forKey: .logprobs)
        sampling = try SamplingFields(from: decoder)
    }
}

/// `POST /v1/chat/completions`.
struct ChatRequest: Decodable {
    var model: String
    var messages: [Message]
    var max_tokens: Int?
    var max_completion_tokens: Int?
    var logprobs: Bool?
    var top_logprobs: Int?
    var sampling: SamplingFields

    struct Message: Decodable {
        var role: String
        var content: String

        enum CodingKeys: String, CodingKey { case role, content }

        struct Part: Decodable {
            var type: String
            var text: String?
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            role = try c.decode(String.self, forKey: .role)
            if let s = try? c.decode(String.self, forKey: .content) {
                content = s
            } else if let parts = try? c.decode([Part].self, forKey: .content) {
                guard parts.allSatisfy({ $0.type == "text" && $0.text != nil }) else {
                    throw DecodingError.dataCorruptedError(forKey: .content, in: c, debugDescription: "only text content parts are supported")
                }
                content = parts.map { $0.text! }.joined()
            } else if try c.decodeNil(forKey: .content) {
                content = ""
            } else {
                throw DecodingError.dataCorruptedError(forKey: .content, in: c, debugDescription: "content must be a string or an array of text parts")
            }
        }
    }

    enum CodingKeys: String, CodingKey { case model, messages, max_tokens, max_completion_tokens, logprobs, top_logprobs }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decode(String.self, forKey: .model)
        messages = try c.decode([Message].self, forKey: .messages)
        max_tokens = try c.decodeIfPresent(Int.self, forKey: .max_tokens)
        max_completion_tokens = try c.decodeIfPresent(Int.self, forKey: .max_completion_tokens)
        logprobs = try c.decodeIfPresent(Bool.self, forKey: .logprobs)
        top_logprobs = try c.decodeIfPresent(Int.self, forKey: .top_logprobs)
        sampling = try SamplingFields(from: decoder)
    }
}
