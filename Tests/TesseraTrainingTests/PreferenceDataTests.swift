import Foundation
import Testing
import TesseraTestSupport
import TesseraTokenizer
import TesseraTraining

/// DPO's data: OpenAI's and TRL's preference rows become two sequences sharing the prompt, the answers trained.
@Suite struct PreferenceDataTests {
    static var data: TrainingData { TrainingDataTests.data }

    static func load(_ lines: [String], maxLength: Int = 512) throws -> [PreferencePair] {
        let path = TrainingDataTests.file(lines)
        defer { unlink(path) }
        return try data.loadPreferences(path, maxLength: maxLength)
    }

    static func prompt(_ e: TrainingExample) -> [Int32] { Array(e.tokens.prefix(e.weights.firstIndex { $0 > 0 } ?? 0)) }

    @Test func openAIAndTRLRowsGiveTheSamePair() throws {
        let openAI = #"{"input": {"messages": [{"role": "user", "content": "Capital of France?"}]}, "preferred_output": [{"role": "assistant", "content": "Paris."}], "non_preferred_output": [{"role": "assistant", "content": "Lyon, I think."}]}"#
        let trl = #"{"prompt": [{"role": "user", "content": "Capital of France?"}], "chosen": [{"role": "assistant", "content": "Paris."}], "rejected": [{"role": "assistant", "content": "Lyon, I think."}]}"#
        let pairs = try Self.load([openAI, trl])
        #expect(pairs.count == 2 && pairs[0] == pairs[1])
        let p = pairs[0]
        #expect(TrainingDataTests.trained(p.chosen) == "Paris.<|im_end|>")
        #expect(TrainingDataTests.trained(p.rejected) == "Lyon, I think.<|im_end|>")
        #expect(Self.prompt(p.chosen) == Self.prompt(p.rejected))
        #expect(TrainingDataTests.tokenizer.decode(Self.prompt(p.chosen)).hasSuffix("Capital of France?<|im_end|>\n<|im_start|>assistant\n"))
    }

    /// Earlier assistant turns of a prompt are context, not trained; plain strings are text and EOS.
    @Test func multiTurnPromptsAndPlainText() throws {
        let pairs = try Self.load([
            #"{"prompt": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "2+2?"}], "chosen": [{"role": "assistant", "content": "4"}], "rejected": [{"role": "assistant", "content": "5"}]}"#,
            #"{"prompt": "2+2=", "chosen": "4", "rejected": "22"}"#,
        ])
        #expect(TrainingDataTests.trained(pairs[0].chosen) == "4<|im_end|>")
        #expect(TrainingDataTests.trained(pairs[1].rejected).hasPrefix("22"))
        #expect(TrainingDataTests.tokenizer.decode(Self.prompt(pairs[1].chosen)) == "2+2=")
    }

    /// A long answer is cut at --max-length; a prompt that leaves no room is refused.
    @Test func lengthsAreBounded() throws {
        let row = #"{"prompt": "one two three four", "chosen": "five six seven eight nine ten", "rejected": "no"}"#
        let pairs = try Self.load([row], maxLength: 6)
        #expect(pairs[0].chosen.tokens.count == 6 && pairs[0].chosen.trainedTokens > 0)
        #expect(throws: TrainingDataError.self) { try Self.load([row], maxLength: 3) }
        do {
            _ = try Self.load([row], maxLength: 3)
        } catch let e as TrainingDataError {
            #expect(e.line == 1 && e.field == "prompt" && e.message.contains("no room"))
        }
    }

    @Test func badRowsNameTheLineAndTheField() {
        func error(_ lines: [String]) -> TrainingDataError? {
            do {
                _ = try Self.load(lines)
                return nil
            } catch {
                return error as? TrainingDataError
            }
        }
        let good = #"{"prompt": "a", "chosen": "b", "rejected": "c"}"#
        var e = error([good, #"{"prompt": "a", "chosen": "b"}"#])
        #expect(e?.line == 2 && e?.field == "rejected" && e?.message == "missing")
        e = error([#"{"input": {"messages": [{"role": "user", "content": "q"}]}, "preferred_output": [{"role": "assistant", "content": ""}], "non_preferred_output": [{"role": "assistant", "content": "x"}]}"#])
        #expect(e?.field == "preferred_output" && e?.message.contains("empty") == true)
        e = error([#"{"prompt": "a", "chosen": "", "rejected": "c"}"#])
        #expect(e?.field == "chosen")
        e = error([#"{"input": {"messages": [{"role": "user", "content": "q"}]}, "preferred_output": [{"role": "user", "content": "x"}], "non_preferred_output": [{"role": "assistant", "content": "x"}]}"#])
        #expect(e?.field == "preferred_output")
        e = error([#"{"prompt": [{"role": "user", "content": "q"}], "chosen": "b", "rejected": "c"}"#])
        #expect(e?.field == "chosen")
        e = error([#"{"chosen": "b", "rejected": "c"}"#])
        #expect(e?.field == "prompt")
        e = error([])
        #expect(e?.message == "the file has no preference pairs")
    }
}
