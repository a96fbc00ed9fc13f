import Foundation
import Testing
import TesseraTestSupport
import TesseraTokenizer
import TesseraTraining

@Suite struct TrainingDataTests {
    static let tokenizer = try! Tokenizer(gguf: TestModel.gguf)
    static let data = try! TrainingData(tokenizer: tokenizer)

    static func file(_ lines: [String]) -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-data-\(UUID().uuidString).jsonl")
        try! lines.joined(separator: "\n").write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    /// The text of the trained tokens, and of the whole sequence.
    static func trained(_ e: TrainingExample) -> String {
        tokenizer.decode(zip(e.tokens, e.weights).filter { $0.1 > 0 }.map(\.0))
    }

    @Test func chatRowsTrainTheAnswersAndTheirEndOfTurn() throws {
        let path = Self.file([
            #"{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"}, {"role": "assistant", "content": "Paris."}]}"#,
            #"{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!", "weight": 0}, {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}"#,
        ])
        defer { unlink(path) }
        let rows = try Self.data.load(path, method: .sft, maxLength: 512)
        #expect(rows.count == 2)
        #expect(Self.trained(rows[0]) == "Paris.<|im_end|>")
        #expect(Self.tokenizer.decode(rows[0].tokens) == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nCapital of France?<|im_end|>\n<|im_start|>assistant\nParis.<|im_end|>\n")
        #expect(Self.trained(rows[1]) == "4<|im_end|>", "the weight-0 answer is context only")
        #expect(Self.tokenizer.decode(rows[1].tokens).contains("<|im_start|>assistant\nHello!<|im_end|>"))
        #expect(rows.allSatisfy { $0.weights[0] == 0 })
    }

    @Test func promptCompletionAndPretrainingRows() throws {
        let sft = Self.file([#"{"prompt": "2+2=", "completion": "4"}"#])
        let pre = Self.file([#"{"text": "one two three"}"#, #"{"text": "four five"}"#])
        defer { unlink(sft); unlink(pre) }
        let pc = try Self.data.load(sft, method: .sft, maxLength: 64)
        #expect(Self.trained(pc[0]) == "4<|im_end|>" || Self.trained(pc[0]) == "4<|endoftext|>")
        let plain = try Self.data.load(pre, method: .pretrain, maxLength: 64)
        #expect(plain.count == 2 && plain[0].weights.dropFirst().allSatisfy { $0 == 1 })
        let packed = try Self.data.load(pre, method: .pretrain, maxLength: 4, packing: true)
        let all = plain.flatMap(\.tokens)
        #expect(packed.flatMap(\.tokens) == all && packed.dropLast().allSatisfy { $0.tokens.count == 4 })
        let cut = try Self.data.load(pre, method: .pretrain, maxLength: 2)
        #expect(cut.allSatisfy { $0.tokens.count == 2 })
        // A long prompt cut before its answer is skipped (and said), not an error for the whole file.
        let long = Self.file([#"{"prompt": "\#(String(repeating: "word ", count: 40))", "completion": "yes"}"#,
                              #"{"prompt": "a", "completion": "b"}"#])
        defer { unlink(long) }
        var skipped: [TrainingDataError] = []
        let kept = try Self.data.load(long, method: .sft, maxLength: 8, skipped: { skipped.append($0) })
        #expect(kept.count == 1 && skipped.count == 1 && skipped[0].line == 1)
    }

    @Test func badRowsNameTheLineAndTheField() {
        func error(_ lines: [String], _ method: TrainingData.Method = .sft) -> TrainingDataError? {
            let path = Self.file(lines)
            defer { unlink(path) }
            do {
                _ = try Self.data.load(path, method: method, maxLength: 64)
                return nil
            } catch {
                return error
            }
        }
        let good = #"{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}"#
        var e = error([good, "", "not json"])
        #expect(e?.line == 3 && e?.message == "not a JSON object")
        e = error([good, #"{"messages": [{"role": "robot", "content": "a"}]}"#])
        #expect(e?.line == 2 && e?.field == "messages[0].role")
        e = error([#"{"messages": [{"role": "user", "content": 5}]}"#])
        #expect(e?.field == "messages[0].content")
        e = error([#"{"messages": [{"role": "user", "content": "a"}]}"#])
        #expect(e?.field == "messages" && e?.message.contains("no assistant") == true)
        e = error([#"{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b", "weight": 2}]}"#])
        #expect(e?.field == "messages[1].weight")
        e = error([#"{"text": 3}"#], .pretrain)
        #expect(e?.field == "text")
        e = error([#"{"input": "x"}"#])
        #expect(e?.line == 1 && e?.field == nil)
        e = error([])
        #expect(e?.message == "the file has no rows to train on")
    }
}
