import Foundation
import Testing
import TesseraAdapters
import TesseraModel
import TesseraTestSupport
import TesseraTokenizer

/// The example adapters in adapters/examples/ (made by `tessera train`, adapters/make-examples) load as PEFT
/// directories and do what they were trained for: on held-out questions, the three SFT adapters make the trained
/// answer far likelier than the base does, and the DPO adapter prefers the bracketed reversal to the plain one by
/// more than the base does.
@Suite struct ExampleAdaptersTests {
    static let model = try! ModelRegistry.load(TestModel.gguf)
    static let tokenizer = try! Tokenizer(gguf: TestModel.gguf)
    static let examples = TestModel.repositoryRoot.appendingPathComponent("adapters/examples")

    static let template = try! ChatTemplate(tokenizer.chatTemplate!)

    /// Sum of the answer's logprobs after the question, rendered by the model's chat template as the trainer renders
    /// its rows (the answer's tokens and its closing `<|im_end|>`).
    static func answerLogprob(_ question: String, _ answer: String, adapter: LoadedAdapter?) throws -> Double {
        let prompt = tokenizer.encode(try template.render(messages: [("user", question)], addGenerationPrompt: true, tokenizer: tokenizer))
        let tokens = prompt + tokenizer.encode("\(answer)<|im_end|>")
        let lp = try Scoring.logprobs(model: model, tokens: tokens, adapters: adapter.map { [AppliedAdapter($0.weights)] } ?? [])
        return lp[(prompt.count - 1)...].reduce(0, +)
    }

    static func load(_ name: String) throws -> LoadedAdapter {
        try PEFTAdapter.load(directory: examples.appendingPathComponent(name).path, model: model)
    }

    @Test(arguments: ["sums-lora", "sums-prompt-tuning", "sums-prefix-tuning"])
    func sftExamplesAnswerInTheirFormat(_ name: String) throws {
        let adapter = try Self.load(name)
        for (a, b) in [(12, 30), (57, 41), (88, 19)] {  // none of these is in the training data
            let q = "What is \(a) plus \(b)?", answer = "ANSWER: \(a + b)"
            let base = try Self.answerLogprob(q, answer, adapter: nil), tuned = try Self.answerLogprob(q, answer, adapter: adapter)
            #expect(tuned > base + 5, "\(name): \(q) base \(base), tuned \(tuned)")
        }
    }

    @Test func dpoExamplePrefersBrackets() throws {
        let adapter = try Self.load("brackets-dpo-lora")
        for words in [["lamp", "tiger", "paper"], ["forest", "music", "stone"]] {
            let q = "Reverse: " + words.joined(separator: " ")
            let chosen = "[" + words.reversed().joined(separator: " ") + "]", rejected = words.joined(separator: " ")
            let baseMargin = try Self.answerLogprob(q, chosen, adapter: nil) - Self.answerLogprob(q, rejected, adapter: nil)
            let tunedMargin = try Self.answerLogprob(q, chosen, adapter: adapter) - Self.answerLogprob(q, rejected, adapter: adapter)
            #expect(tunedMargin > baseMargin + 1, "\(q): margin base \(baseMargin), tuned \(tunedMargin)")
        }
    }
}
