import Foundation

/// Preference rows for DPO (and reward models): OpenAI's `{"input": {"messages": [...]}, "preferred_output":
/// [{assistant}], "non_preferred_output": [{assistant}]}` and TRL's `{"prompt", "chosen", "rejected"}` (three
/// strings, or a message list and two lists of assistant messages). Each answer becomes the prompt's rendering
/// followed by the answer, whose content and end-of-turn token are the trained tokens (earlier assistant turns of
/// the prompt are not).
extension TrainingData {
    public func loadPreferences(_ path: String, maxLength: Int) throws(TrainingDataError) -> [PreferencePair] {
        let (name, rows) = try Self.rows(path)
        var pairs: [PreferencePair] = []
        for (number, object) in rows {
            func fail(_ field: String?, _ message: String) -> TrainingDataError {
                TrainingDataError(file: name, line: number, field: field, message: message)
            }
            let (promptField, chosenField, rejectedField) = object["input"] != nil
                ? ("input.messages", "preferred_output", "non_preferred_output") : ("prompt", "chosen", "rejected")
            let prompt: Any?
            if object["input"] != nil {
                guard let input = object["input"] as? [String: Any] else { throw fail("input", "must be an object with messages") }
                prompt = input["messages"]
            } else {
                prompt = object["prompt"]
            }
            guard let prompt else {
                throw fail(promptField, "missing: preference rows are {\"input\": {\"messages\"}, \"preferred_output\", \"non_preferred_output\"} or {\"prompt\", \"chosen\", \"rejected\"}")
            }
            func answer(_ field: String) throws(TrainingDataError) -> TrainingExample {
                guard let value = object[field] else { throw fail(field, "missing") }
                let example: TrainingExample
                if let text = value as? String {
                    guard let p = prompt as? String else { throw fail(field, "is a string but the prompt is a message list") }
                    guard !text.isEmpty else { throw fail(field, "is empty") }
                    let promptTokens = tokenizer.encode(p, parseSpecial: false)
                    let answerTokens = tokenizer.encode(text, parseSpecial: false) + [tokenizer.eosID ?? endOfTurn]
                    example = TrainingExample(tokens: promptTokens + answerTokens,
                                              weights: [Float](repeating: 0, count: promptTokens.count)
                                                  + [Float](repeating: 1, count: answerTokens.count))
                } else {
                    if prompt is String { throw fail(field, "is a message list but the prompt is a string") }
                    guard prompt is [Any] else { throw fail(promptField, "must be a string or a list of messages") }
                    var list = try messages(prompt, field: promptField, fail: fail)
                    for i in list.indices { list[i].weight = 0 }
                    let answers = try messages(value, field: field, fail: fail)
                    guard !answers.isEmpty, answers.allSatisfy({ $0.role == "assistant" }) else {
                        throw fail(field, "must be a non-empty list of assistant messages")
                    }
                    guard answers.allSatisfy({ !$0.content.isEmpty }) else { throw fail(field, "has an empty answer") }
                    example = try chat(list + answers.map { Message(role: $0.role, content: $0.content, weight: 1) }, fail: fail)
                }
                // The prompt is what comes before the first trained token; it must leave room for the answer.
                let promptLength = example.weights.firstIndex { $0 > 0 } ?? example.tokens.count
                guard promptLength < maxLength else {
                    throw fail(promptField, "the prompt is \(promptLength) tokens, which leaves no room for an answer within --max-length \(maxLength)")
                }
                return example.tokens.count > maxLength
                    ? TrainingExample(tokens: Array(example.tokens.prefix(maxLength)), weights: Array(example.weights.prefix(maxLength)))
                    : example
            }
            pairs.append(PreferencePair(chosen: try answer(chosenField), rejected: try answer(rejectedField)))
        }
        guard !pairs.isEmpty else {
            throw TrainingDataError(file: name, line: 0, field: nil, message: "the file has no preference pairs")
        }
        return pairs
    }
}
