/// Response bodies in OpenAI's shapes (field names as the API spells them).
struct Usage: Encodable {
    var prompt_tokens: Int
    var completion_tokens: Int
    var total_tokens: Int { prompt_tokens + completion_tokens }

    enum CodingKeys: String, CodingKey { case prompt_tokens, completion_tokens, total_tokens }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(prompt_tokens, forKey: .prompt_tokens)
        try c.encode(completion_tokens, forKey: .completion_tokens)
        try c.encode(total_tokens, forKey: .total_tokens)
    }
}

/// Legacy completions' logprobs: parallel arrays.
struct CompletionLogprobs: Encodable {
    var tokens: [String] = []
    var token_logprobs: [Float?] = []
    var top_logprobs: [[String: Float]?] = []
    var text_offset: [Int] = []
}

struct CompletionChoice: Encodable {
    var index: Int
    var text: String
    var logprobs: CompletionLogprobs?
    var finish_reason: String?

    enum CodingKeys: String, CodingKey { case index, text, logprobs, finish_reason }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(index, forKey: .index)
        try c.encode(text, forKey: .text)
        try c.encode(logprobs, forKey: .logprobs)  // explicit null
        try c.encode(finish_reason, forKey: .finish_reason)
    }
}

struct CompletionResponse: Encodable {
    var id: String
    var object = "text_completion"
    var created: Int
    var model: String
    var choices: [CompletionChoice]
    var usage: Usage?
}

/// Chat logprobs: one entry per token.
struct ChatTokenLogprob: Encodable {
    var token: String
    var logprob: Float
    var bytes: [UInt8]
    var top_logprobs: [Alternative]

    struct Alternative: Encodable {
        var token: String
        var logprob: Float
        var bytes: [UInt8]
    }
}

struct ChatLogprobs: Encodable {
    var content: [ChatTokenLogprob]
}

struct ChatMessage: Encodable {
    var role = "assistant"
    var content: String
}

struct ChatChoice: Encodable {
    var index: Int
    var message: ChatMessage
    var logprobs: ChatLogprobs?
    var finish_reason: String

    enum CodingKeys: String, CodingKey { case index, message, logprobs, finish_reason }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(index, forKey: .index)
        try c.encode(message, forKey: .message)
        try c.encode(logprobs, forKey: .logprobs)
        try c.encode(finish_reason, forKey: .finish_reason)
    }
}

struct ChatResponse: Encodable {
    var id: String
    var object = "chat.completion"
    var created: Int
    var model: String
    var choices: [ChatChoice]
    var usage: Usage
}

struct ChatDelta: Encodable {
    var role: String?
    var content: String?
}

struct ChatChunkChoice: Encodable {
    var index: Int
    var delta: ChatDelta
    var logprobs: ChatLogprobs?
    var finish_reason: String?

    enum CodingKeys: String, CodingKey { case index, delta, logprobs, finish_reason }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(index, forKey: .index)
        try c.encode(delta, forKey: .delta)
        try c.encode(logprobs, forKey: .logprobs)
        try c.encode(finish_reason, forKey: .finish_reason)
    }
}

struct ChatChunk: Encodable {
    var id: String
    var object = "chat.completion.chunk"
    var created: Int
    var model: String
    var choices: [ChatChunkChoice]
    var usage: Usage?
}

struct ModelList: Encodable {
    var object = "list"
    var data: [ModelCard]
}

struct ModelCard: Encodable {
    var id: String
    var object = "model"
    var created: Int
    var owned_by: String
    var parent: String?
    var root: String?
}
