import Foundation
import Testing
import TesseraFormats
import TesseraTestSupport
import TesseraTokenizer
import TesseraTraining

/// The trainer closes each trained assistant turn with the token the chat template itself writes after an answer,
/// found from the template, on real vocabularies and templates (scripts/fetch-vocab).
@Suite struct TurnEndTests {
    static let vocab = TestModel.repositoryRoot.appendingPathComponent("models/vocab")

    static func data(_ vocabulary: String, _ template: String) throws -> TrainingData {
        let path = vocabulary.hasSuffix(".gguf") ? TestModel.repositoryRoot.appendingPathComponent("models/\(vocabulary)").path
            : vocab.appendingPathComponent("ggml-vocab-\(vocabulary).gguf").path
        let tokenizer = try Tokenizer(gguf: GGUFFile(path: path))
        let source = try String(contentsOf: vocab.appendingPathComponent("templates/\(template)"), encoding: .utf8)
        return try TrainingData(tokenizer: tokenizer, template: ChatTemplate(source))
    }

    @Test(arguments: [
        ("llama-bpe", "meta-llama-Llama-3.1-8B-Instruct.jinja", "<|eot_id|>"),
        ("qwen2", "Qwen-Qwen2.5-7B-Instruct.jinja", "<|im_end|>"),
        ("phi-3", "microsoft-Phi-3.5-mini-instruct.jinja", "<|end|>"),
        ("gemma-3-270m-it-Q4_K_M.gguf", "google-gemma-2-2b-it.jinja", "<end_of_turn>"),
    ])
    func theTemplatesOwnTurnEndCloses(vocabulary: String, template: String, end: String) throws {
        let data = try Self.data(vocabulary, template)
        #expect(data.tokenizer.tokens[Int(data.endOfTurn)] == end)
        #expect(data.tokenizer.isEndOfGeneration(data.endOfTurn), "generation stops where training ends the turn")
    }

    @Test(arguments: [("llama-bpe", "meta-llama-Llama-3.1-8B-Instruct.jinja"), ("qwen2", "Qwen-Qwen2.5-7B-Instruct.jinja"),
                      ("phi-3", "microsoft-Phi-3.5-mini-instruct.jinja"), ("gemma-3-270m-it-Q4_K_M.gguf", "google-gemma-2-2b-it.jinja")])
    func answersAreTrainedWithTheirTurnEnd(vocabulary: String, template: String) throws {
        let data = try Self.data(vocabulary, template)
        let messages = #"[{"role": "user", "content": "Capital of France?"}, {"role": "assistant", "content": "Paris."}, {"role": "user", "content": "And of Spain?"}, {"role": "assistant", "content": "Madrid."}]"#
        let example = try data.conversation(json: messages)
        let trained = zip(example.tokens, example.weights).filter { $0.1 > 0 }.map(\.0)
        #expect(trained.last == data.endOfTurn)
        #expect(trained.filter { $0 == data.endOfTurn }.count == 2)
        // Tokenized part by part, the conversation has the ids of its whole text (SentencePiece's space prefix
        // included), so training sees what serving will.
        let source = try String(contentsOf: Self.vocab.appendingPathComponent("templates/\(template)"), encoding: .utf8)
        let list = try JinjaValue(jsonText: messages)
        guard case .array(let items) = list else { Issue.record("messages"); return }
        var variables: [String: JinjaValue] = ["messages": .array(items), "add_generation_prompt": .bool(false)]
        for (key, id) in [("bos_token", data.tokenizer.bosID), ("eos_token", data.tokenizer.eosID)] {
            if let id { variables[key] = .string(data.tokenizer.tokens[Int(id)]) }
        }
        let whole = try ChatTemplate(source).render(variables)
        #expect(example.tokens == data.tokenizer.encode(whole, parseSpecial: true))
    }
}
