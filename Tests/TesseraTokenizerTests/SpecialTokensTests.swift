import Foundation
import Testing
import TesseraTokenizer

/// End-of-generation tokens and BOS handling as llama.cpp derives them from each file.
@Suite struct SpecialTokensTests {
    @Test(arguments: [
        ("llama-bpe", ["<|end_of_text|>", "<|eot_id|>"]),
        ("qwen2", ["<|endoftext|>", "<|im_end|>"]),
        ("phi-3", ["</s>", "<|endoftext|>", "<|end|>"]),
        ("gemma-3", ["<eos>", "<end_of_turn>"]),
    ])
    func endOfGenerationTokens(name: String, texts: [String]) throws {
        let t = try VocabSuite.tokenizer(name)
        for text in texts {
            let id = try #require(t.id(of: text), "\(name) has \(text)")
            let ends = t.isEndOfGeneration(id), control = t.isControl(id)
            #expect(ends, "\(name): \(text) ends a generation")
            #expect(control, "\(name): \(text) prints nothing in an answer")
        }
    }

    /// A chat prompt starts with exactly one BOS, whether or not the template wrote it.
    @Test func renderedPromptsGetOneBOS() throws {
        let llama = try VocabSuite.tokenizer("llama-bpe")
        let bos = try #require(llama.bosID)
        #expect(llama.addBOS)
        let written = llama.encodeRendered("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>")
        let unwritten = llama.encodeRendered("<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>")
        #expect(written.filter { $0 == bos }.count == 1 && written.first == bos)
        #expect(unwritten.first == bos && Array(unwritten.dropFirst()) == Array(written.dropFirst()))
        // A model that adds no BOS (Qwen) gets none.
        let qwen = try VocabSuite.tokenizer("qwen2")
        #expect(qwen.encodeRendered("<|im_start|>user\nHi<|im_end|>") == qwen.encode("<|im_start|>user\nHi<|im_end|>"))
    }
}
