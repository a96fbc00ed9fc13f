import Foundation
import Testing
import TesseraTestSupport
import TesseraTokenizer
import TesseraTraining

/// Distillation's rows: the student's context, the teacher's (a system prompt, or its own messages), the answer or
/// none, and OpenAI's logprobs as the teacher.
@Suite struct DistillationDataTests {
    static var tokenizer: Tokenizer { TrainingDataTests.tokenizer }

    static func load(_ lines: [String], maxLength: Int = 512, teacherSystem: String? = nil,
                     teacherModel: Bool = false) throws -> [DistillationRow] {
        let path = TrainingDataTests.file(lines)
        defer { unlink(path) }
        return try TrainingDataTests.data.loadDistillation(path, maxLength: maxLength, teacherSystem: teacherSystem, teacherModel: teacherModel)
    }

    @Test func theTeacherSeesTheSystemPromptAndTheStudentDoesNot() throws {
        let rows = try Self.load([
            #"{"messages": [{"role": "user", "content": "Name a fruit."}, {"role": "assistant", "content": "A pear."}]}"#,
            #"{"messages": [{"role": "user", "content": "Name a planet."}]}"#,
        ], teacherSystem: "Answer like a pirate.")
        let student = Self.tokenizer.decode(rows[0].prompt), teacher = Self.tokenizer.decode(rows[0].teacherPrompt)
        #expect(teacher.contains("Answer like a pirate.") && !student.contains("pirate"))
        #expect(student.hasSuffix("Name a fruit.<|im_end|>\n<|im_start|>assistant\n") && teacher.hasSuffix(student.suffix(40)))
        #expect(Self.tokenizer.decode(rows[0].answer!) == "A pear.<|im_end|>")
        #expect(TrainingDataTests.trained(rows[0].student) == "A pear.<|im_end|>")
        #expect(rows[1].answer == nil, "a question alone: the answer is generated")
    }

    @Test func teacherMessagesAreTheTeachersWholeContext() throws {
        let rows = try Self.load([
            #"{"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}], "teacher_messages": [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "What is 2+2?"}]}"#,
        ])
        #expect(Self.tokenizer.decode(rows[0].teacherPrompt).contains("Be terse.<|im_end|>"))
        #expect(rows[0].teacherSequence.tokens.suffix(rows[0].answer!.count) == ArraySlice(rows[0].answer!))
    }

    /// OpenAI's logprobs shape: the listed tokens are the answer's, each position's teacher its top logprobs.
    @Test func logprobsInTheDataAreTheTeacher() throws {
        let pieces = ["Hello", " there"]
        let content = pieces.map { p in
            #"{"token": "\#(p)", "logprob": -0.1, "bytes": \#(Array(p.utf8)), "top_logprobs": [{"token": "\#(p)", "logprob": -0.1}, {"token": "Hi", "logprob": -2.5}]}"#
        }.joined(separator: ", ")
        let rows = try Self.load([
            #"{"messages": [{"role": "user", "content": "Greet me."}, {"role": "assistant", "content": "Hello there", "logprobs": {"content": [\#(content)]}}]}"#,
        ])
        let given = try #require(rows[0].given)
        #expect(given.count == 3 && given[2] == nil, "two tokens taught, the end of turn trained on the data")
        #expect(abs(given[0]!.probabilities[0] - Float(exp(-0.1))) < 1e-6 && given[0]!.ids.count == 2)
        #expect(Self.tokenizer.decode(rows[0].answer!) == "Hello there<|im_end|>")
    }

    @Test func badRowsAreRefusedWithTheirLineAndField() throws {
        func refusal(_ line: String, teacherSystem: String? = "x", maxLength: Int = 512) -> TrainingDataError? {
            do {
                _ = try Self.load([#"{"messages": [{"role": "user", "content": "ok"}]}"#, line], maxLength: maxLength, teacherSystem: teacherSystem)
                return nil
            } catch { return error as? TrainingDataError }
        }
        let empty = refusal(#"{"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": ""}]}"#)
        #expect(empty?.line == 2 && empty?.field == "messages[1].content")
        let noTeacher = refusal(#"{"messages": [{"role": "user", "content": "Q"}]}"#, teacherSystem: nil)
        #expect(noTeacher?.line == 1 && noTeacher?.message.contains("no teacher") == true)
        let badToken = refusal(#"{"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A", "logprobs": {"content": [{"token": "\u0001\u0002zz", "logprob": -1}]}}]}"#)
        #expect(badToken?.field == "messages[1].logprobs.content[0]")
        let positive = refusal(#"{"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A", "logprobs": {"content": [{"token": "A", "logprob": 2}]}}]}"#)
        #expect(positive?.field == "messages[1].logprobs.content[0].logprob")
        let misspelt = refusal(#"{"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "AB", "logprobs": {"content": [{"token": "A", "logprob": -1}]}}]}"#)
        #expect(misspelt?.field == "messages[1].logprobs.content")
        let long = refusal(#"{"messages": [{"role": "user", "content": "\#(String(repeating: "word ", count: 200))"}]}"#, maxLength: 120)
        #expect(long?.line == 2 && long?.field == "messages")
        let noQuestion = refusal(#"{"messages": [{"role": "system", "content": "S"}]}"#)
        #expect(noQuestion?.field == "messages[0].role")
    }
}
