import Foundation

/// Distillation rows: OpenAI chat rows `{"messages": [...]}` whose last message is the answer (an assistant message)
/// or the question (a user message: the teacher, or on-policy the student, writes the answer). The teacher reads
/// the same conversation with `teacherSystem` as its system prompt (before the row's own), or the row's
/// `teacher_messages` (its whole context, the answer left out); the student never sees either. The answer's
/// message may carry OpenAI's `logprobs` (`{"content": [{"token", "logprob", "bytes", "top_logprobs": [...]}]}`):
/// then those are the teacher, and its tokens are the answer's.
extension TrainingData {
    /// `teacherModel`: a teacher adapter is given, so a row needs no context of its own to be taught.
    public func loadDistillation(_ path: String, maxLength: Int, teacherSystem: String?,
                                 teacherModel: Bool) throws(TrainingDataError) -> [DistillationRow] {
        let (name, rows) = try Self.rows(path)
        var out: [DistillationRow] = []
        let byBytes = tokenByBytes()
        for (number, object) in rows {
            func fail(_ field: String?, _ message: String) -> TrainingDataError {
                TrainingDataError(file: name, line: number, field: field, message: message)
            }
            guard object["messages"] != nil else { throw fail("messages", "missing: distillation rows are {\"messages\": [...]}") }
            var list = try messages(object["messages"], field: "messages", fail: fail)
            guard let last = list.last else { throw fail("messages", "is empty") }
            var answer: [Int32]?, given: [TeacherDistribution?]?
            let rawMessages = object["messages"] as? [Any] ?? []
            if last.role == "assistant" {
                list.removeLast()
                let at = "messages[\(list.count)]"
                guard !last.content.isEmpty else { throw fail("\(at).content", "the answer is empty") }
                let logprobs = (rawMessages.last as? [String: Any])?["logprobs"] ?? object["logprobs"]
                if let logprobs, !(logprobs is NSNull) {
                    let field = (rawMessages.last as? [String: Any])?["logprobs"] != nil ? "\(at).logprobs" : "logprobs"
                    let (tokens, distributions) = try teacherLogprobs(logprobs, field: field, byBytes: byBytes, fail: fail)
                    guard tokenizer.decode(tokens) == last.content else {
                        throw fail("\(field).content", "its tokens do not spell the answer's content")
                    }
                    answer = tokens + [endOfTurn]
                    given = distributions + [nil]  // the end of the turn: trained on the data's token
                } else {
                    answer = tokenizer.encode(last.content, parseSpecial: true) + [endOfTurn]
                }
            } else if last.role != "user" {
                throw fail("messages[\(list.count - 1)].role", "the last message must be the answer (assistant) or the question (user)")
            }
            guard list.contains(where: { $0.role == "user" }) else { throw fail("messages", "has no user message") }
            let prompt = try rendered(list, field: "messages", fail: fail)
            let teacherPrompt: [Int32]
            if let own = object["teacher_messages"] {
                let teacherList = try messages(own, field: "teacher_messages", fail: fail)
                guard teacherList.last?.role == "user" else {
                    throw fail("teacher_messages", "must end with the question (a user message); the answer is the row's")
                }
                teacherPrompt = try rendered(teacherList, field: "teacher_messages", fail: fail)
            } else if let teacherSystem {
                var teacherList = list
                if teacherList.first?.role == "system" {
                    teacherList[0].content = teacherSystem + "\n\n" + teacherList[0].content
                } else {
                    teacherList.insert(Message(role: "system", content: teacherSystem, weight: 0), at: 0)
                }
                teacherPrompt = try rendered(teacherList, field: "messages", fail: fail)
            } else {
                teacherPrompt = prompt
            }
            guard given != nil || teacherPrompt != prompt || teacherModel else {
                throw fail(nil, "the row has no teacher: give --teacher-system, --teacher-adapter, the row's teacher_messages or the answer's logprobs")
            }
            for (field, context) in [("messages", prompt), (object["teacher_messages"] != nil ? "teacher_messages" : "messages", teacherPrompt)] {
                guard context.count + (answer?.count ?? 1) <= maxLength else {
                    throw fail(field, "the context is \(context.count) tokens, which leaves no room for the answer within --max-length \(maxLength)")
                }
            }
            out.append(DistillationRow(prompt: prompt, teacherPrompt: teacherPrompt, answer: answer, given: given))
        }
        guard !out.isEmpty else { throw TrainingDataError(file: name, line: 0, field: nil, message: "the file has no rows") }
        return out
    }

    /// The conversation rendered through the generation prompt, as tokens.
    func rendered(_ list: [Message], field: String, fail: (String?, String) -> TrainingDataError) throws(TrainingDataError) -> [Int32] {
        guard let template else { throw fail(field, "the model has no chat template to render messages with") }
        do {
            let text = try template.render(messages: list.map { ($0.role, $0.content) }, addGenerationPrompt: true, tokenizer: tokenizer)
            return tokenizer.encode(text, parseSpecial: true)
        } catch {
            throw fail(field, "the chat template failed: \(error.message)")
        }
    }

    /// Each token's id by its bytes (OpenAI's logprobs name tokens by text and bytes, not by id).
    func tokenByBytes() -> [[UInt8]: Int32] {
        var out: [[UInt8]: Int32] = [:]
        for id in 0..<Int32(tokenizer.vocabularySize) where !tokenizer.isControl(id) {
            let b = tokenizer.bytes(of: id)
            if !b.isEmpty, out[b] == nil { out[b] = id }
        }
        return out
    }

    /// The answer's tokens and the teacher's distribution at each, from OpenAI's logprobs object.
    func teacherLogprobs(_ value: Any, field: String, byBytes: [[UInt8]: Int32],
                         fail: (String?, String) -> TrainingDataError) throws(TrainingDataError) -> ([Int32], [TeacherDistribution?]) {
        guard let object = value as? [String: Any], let content = object["content"] as? [Any], !content.isEmpty else {
            throw fail(field, "must be {\"content\": [{\"token\", \"logprob\", \"top_logprobs\"}, ...]} with at least one token")
        }
        func entry(_ item: Any, at: String) throws(TrainingDataError) -> (id: Int32, logprob: Double) {
            guard let e = item as? [String: Any] else { throw fail(at, "must be an object with token and logprob") }
            guard let logprob = (e["logprob"] as? NSNumber)?.doubleValue, logprob.isFinite, logprob <= 1e-6 else {
                throw fail("\(at).logprob", "missing, or not a number at most 0")
            }
            let bytes: [UInt8]
            if let list = e["bytes"] as? [Any] {
                var b: [UInt8] = []
                for x in list {
                    guard let n = (x as? NSNumber)?.intValue, (0...255).contains(n) else { throw fail("\(at).bytes", "must be a list of bytes 0-255") }
                    b.append(UInt8(n))
                }
                bytes = b
            } else if let token = e["token"] as? String {
                bytes = Array(token.utf8)
            } else {
                throw fail("\(at).token", "missing or not a string")
            }
            guard let id = byBytes[bytes] else {
                throw fail(at, "'\(String(decoding: bytes, as: UTF8.self))' is not a token of this model's tokenizer (the teacher must share it)")
            }
            return (id, logprob)
        }
        var tokens: [Int32] = [], distributions: [TeacherDistribution?] = []
        for (i, item) in content.enumerated() {
            let at = "\(field).content[\(i)]"
            let chosen = try entry(item, at: at)
            var entries = [chosen]
            if let top = (item as? [String: Any])?["top_logprobs"] {
                guard let list = top as? [Any] else { throw fail("\(at).top_logprobs", "must be a list") }
                for (j, t) in list.enumerated() { entries.append(try entry(t, at: "\(at).top_logprobs[\(j)]")) }
            }
            tokens.append(chosen.id)
            distributions.append(TeacherDistribution.fromLogprobs(entries))
        }
        return (tokens, distributions)
    }
}

/// RLHF's rows: prompts the policy answers, OpenAI chat rows `{"messages": [...]}` ending with the user's question, or
/// `{"prompt": TEXT}`.
extension TrainingData {
    public func loadPrompts(_ path: String, maxLength: Int) throws(TrainingDataError) -> [[Int32]] {
        let (name, rows) = try Self.rows(path)
        var out: [[Int32]] = []
        for (number, object) in rows {
            func fail(_ field: String?, _ message: String) -> TrainingDataError {
                TrainingDataError(file: name, line: number, field: field, message: message)
            }
            let prompt: [Int32]
            if let text = object["prompt"] {
                guard let text = text as? String, !text.isEmpty else { throw fail("prompt", "must be a non-empty string") }
                prompt = tokenizer.encode(text, parseSpecial: false)
            } else if object["messages"] != nil {
                let list = try messages(object["messages"], field: "messages", fail: fail)
                guard list.last?.role == "user" else {
                    throw fail("messages", "must end with the user's question: the policy writes the answers")
                }
                prompt = try rendered(list, field: "messages", fail: fail)
            } else {
                throw fail(nil, "expected {\"messages\": [...]} or {\"prompt\": TEXT}")
            }
            guard prompt.count < maxLength else {
                throw fail(object["prompt"] != nil ? "prompt" : "messages",
                           "the prompt is \(prompt.count) tokens, which leaves no room for an answer within --max-length \(maxLength)")
            }
            out.append(prompt)
        }
        guard !out.isEmpty else { throw TrainingDataError(file: name, line: 0, field: nil, message: "the file has no prompts") }
        return out
    }
}
