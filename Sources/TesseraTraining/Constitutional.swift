import Foundation
import TesseraEngine
import TesseraModel

/// A chat message of a generated conversation.
public struct ChatTurn: Sendable, Codable, Equatable {
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// Constitutional AI's principles (Bai et al. 2022): requests to critique an answer and to revise it, as a JSON list
/// of `{"critique": ..., "revision": ...}` (or Anthropic's `critique_request` / `revision_request`).
public struct Constitution: Sendable, Equatable {
    public var principles: [(critique: String, revision: String)]

    public static func == (a: Constitution, b: Constitution) -> Bool {
        a.principles.map(\.critique) == b.principles.map(\.critique) && a.principles.map(\.revision) == b.principles.map(\.revision)
    }

    public static func load(_ path: String) throws(TrainingDataError) -> Constitution {
        let name = (path as NSString).lastPathComponent
        func fail(_ field: String?, _ message: String) -> TrainingDataError {
            TrainingDataError(file: name, line: 0, field: field, message: message)
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw fail(nil, "cannot read the file") }
        guard let list = (try? JSONSerialization.jsonObject(with: data)) as? [Any], !list.isEmpty else {
            throw fail(nil, "must be a non-empty JSON list of {\"critique\": ..., \"revision\": ...}")
        }
        var principles: [(String, String)] = []
        for (i, item) in list.enumerated() {
            guard let p = item as? [String: Any] else { throw fail("[\(i)]", "must be an object with critique and revision") }
            guard let critique = (p["critique"] ?? p["critique_request"]) as? String, !critique.isEmpty else {
                throw fail("[\(i)].critique", "missing, empty or not a string")
            }
            guard let revision = (p["revision"] ?? p["revision_request"]) as? String, !revision.isEmpty else {
                throw fail("[\(i)].revision", "missing, empty or not a string")
            }
            principles.append((critique, revision))
        }
        return Constitution(principles: principles)
    }
}

/// One prompt through the constitution: the first answer, its critique against a principle, the revision.
public struct ConstitutionalSample: Sendable, Codable, Equatable {
    public var messages: [ChatTurn]
    public var principle: Int
    public var initial: String
    public var critique: String
    public var revision: String
}

/// The critique-and-revision loop, every stage one batch through the engine: each prompt answered, the answer
/// critiqued against a principle drawn per prompt (seeded), then revised in the light of the critique.
public struct ConstitutionalPipeline: Sendable {
    public let data: TrainingData
    public let generator: BatchGenerator
    /// The model that answers, critiques and revises: the base with this adapter (nil: the base).
    public let adapter: AdapterWeights?
    public let sampling: SamplingParameters
    public let maxLength: Int

    public init(data: TrainingData, generator: BatchGenerator, adapter: AdapterWeights?, sampling: SamplingParameters, maxLength: Int) {
        self.data = data
        self.generator = generator
        self.adapter = adapter
        self.sampling = sampling
        self.maxLength = maxLength
    }

    public func run(_ prompts: [[ChatTurn]], constitution: Constitution, seed: UInt64) throws -> [ConstitutionalSample] {
        var rng = RandomSource(seed: seed)
        let drawn = prompts.map { _ in Int(rng.next() % UInt64(constitution.principles.count)) }
        var conversations = prompts
        let initial = try answer(conversations, stage: 0)
        for i in conversations.indices {
            conversations[i] += [ChatTurn(role: "assistant", content: initial[i]),
                                 ChatTurn(role: "user", content: constitution.principles[drawn[i]].critique)]
        }
        let critique = try answer(conversations, stage: 1)
        for i in conversations.indices {
            conversations[i] += [ChatTurn(role: "assistant", content: critique[i]),
                                 ChatTurn(role: "user", content: constitution.principles[drawn[i]].revision)]
        }
        let revision = try answer(conversations, stage: 2)
        return prompts.indices.map {
            ConstitutionalSample(messages: prompts[$0], principle: drawn[$0], initial: initial[$0], critique: critique[$0], revision: revision[$0])
        }
    }

    /// Each conversation's next assistant turn, as text.
    func answer(_ conversations: [[ChatTurn]], stage: Int) throws -> [String] {
        let prompts = try conversations.map { c throws(TrainingDataError) in try data.rendered(c) }
        let parameters = BatchGenerator.parameters(sampling, contexts: prompts.map(\.count), maxLength: maxLength, salt: stage)
        for (i, p) in prompts.enumerated() where p.count >= maxLength {
            throw TrainingFailure("constitutional stage \(stage + 1), prompt \(i + 1): the conversation is \(p.count) tokens, past --max-length \(maxLength)")
        }
        let answers = try generator.generate(prompts, adapter: adapter, parameters: parameters)
        return answers.map { a in
            data.tokenizer.decode(a.finished ? Array(a.tokens.dropLast()) : a.tokens).trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }
}

extension TrainingData {
    /// Prompts as conversations (rows `{"messages": [...]}` ending with the user's question, or `{"prompt": TEXT}` as
    /// one user message).
    public func loadConversations(_ path: String) throws(TrainingDataError) -> [[ChatTurn]] {
        let (name, rows) = try Self.rows(path)
        var out: [[ChatTurn]] = []
        for (number, object) in rows {
            func fail(_ field: String?, _ message: String) -> TrainingDataError {
                TrainingDataError(file: name, line: number, field: field, message: message)
            }
            if let text = object["prompt"] {
                guard let text = text as? String, !text.isEmpty else { throw fail("prompt", "must be a non-empty string") }
                out.append([ChatTurn(role: "user", content: text)])
                continue
            }
            let list = try messages(object["messages"], field: "messages", fail: fail)
            guard list.last?.role == "user" else { throw fail("messages", "must end with the user's question: the model writes the answers") }
            out.append(list.map { ChatTurn(role: $0.role, content: $0.content) })
        }
        guard !out.isEmpty else { throw TrainingDataError(file: name, line: 0, field: nil, message: "the file has no prompts") }
        return out
    }

    /// A conversation rendered through the generation prompt.
    public func rendered(_ turns: [ChatTurn]) throws(TrainingDataError) -> [Int32] {
        try rendered(turns.map { Message(role: $0.role, content: $0.content, weight: 0) }, field: "messages") {
            TrainingDataError(file: "generated", line: 0, field: $0, message: $1)
        }
    }

    /// `turns` then an assistant `answer`, the answer trained (SFT on a generated answer).
    public func example(_ turns: [ChatTurn], answer: String) throws(TrainingDataError) -> TrainingExample {
        let list = turns.map { Message(role: $0.role, content: $0.content, weight: 0) } + [Message(role: "assistant", content: answer, weight: 1)]
        return try chat(list) { TrainingDataError(file: "generated", line: 0, field: $0, message: $1) }
    }
}
