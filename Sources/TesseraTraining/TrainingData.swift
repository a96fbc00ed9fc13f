import Foundation
import TesseraTokenizer

/// A data file's error: which line, which field, what was wrong. Raised before any training starts.
public struct TrainingDataError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let line: Int
    public let field: String?
    public let message: String

    public var description: String { "\(file):\(line)\(field.map { ": '\($0)'" } ?? ""): \(message)" }
}

/// Turns JSONL rows into token sequences with per-token training weights (DESIGN 4, formats crib).
/// `sft`: OpenAI chat rows `{"messages": [...]}` (an assistant message may carry `"weight": 0`) or
/// `{"prompt", "completion"}` (strings, or message lists); the trained tokens are each weighted assistant message's
/// content and the end-of-turn token that closes it, or the completion and EOS. `pretrain`: `{"text"}` rows, every
/// token trained, EOS after each row.
public struct TrainingData: Sendable {
    public enum Method: String, Sendable, CaseIterable { case sft, pretrain }

    public let tokenizer: Tokenizer
    let template: ChatTemplate?
    /// The token that closes an assistant turn in the template's own format (`<|im_end|>`, `<|eot_id|>`,
    /// `<end_of_turn>` …), trained with the turn it closes.
    public let endOfTurn: Int32

    public init(tokenizer: Tokenizer, template: ChatTemplate? = nil) throws(TokenizerError) {
        self.tokenizer = tokenizer
        var template = template
        if template == nil, let source = tokenizer.chatTemplate { template = try ChatTemplate(source) }
        self.template = template
        guard let end = Self.turnEnd(of: template, tokenizer: tokenizer) ?? tokenizer.special.turnEnd else {
            throw TokenizerError("neither the chat template nor the tokenizer names a token to close turns with")
        }
        endOfTurn = end
    }

    /// The special token the template writes right after an assistant message's content, found by rendering a
    /// one-turn conversation around a marker; nil when what follows is not a special token.
    static func turnEnd(of template: ChatTemplate?, tokenizer: Tokenizer) -> Int32? {
        guard let template else { return nil }
        let marker = "TESSERA_ANSWER_MARKER"
        guard let text = try? template.render(messages: [("user", "Hello"), ("assistant", marker)], addGenerationPrompt: false,
                                              tokenizer: tokenizer),
              let r = text.range(of: marker) else { return nil }
        guard let first = tokenizer.encode(String(text[r.upperBound...]), parseSpecial: true).first,
              tokenizer.isControl(first) || tokenizer.isEndOfGeneration(first) else { return nil }
        return first
    }

    /// Every row of the file, in order; rows longer than `maxLength` are cut there (or, with `packing`, pretraining
    /// text is joined into sequences of exactly `maxLength`, the last one shorter). A row left with nothing to train
    /// on (cut before its first answer, or a text of one token) is skipped and reported to `skipped`.
    public func load(_ path: String, method: Method, maxLength: Int, packing: Bool = false,
                     skipped: (TrainingDataError) -> Void = { _ in }) throws(TrainingDataError) -> [TrainingExample] {
        let (name, rows) = try Self.rows(path)
        var examples: [TrainingExample] = []
        var stream: [Int32] = []  // packing: every row's tokens, EOS after each
        for (number, object) in rows {
            func fail(_ field: String?, _ message: String) -> TrainingDataError {
                TrainingDataError(file: name, line: number, field: field, message: message)
            }
            let example: TrainingExample
            switch method {
            case .pretrain:
                guard let text = object["text"] else { throw fail("text", "missing: pretraining rows are {\"text\": ...}") }
                guard let text = text as? String else { throw fail("text", "must be a string") }
                let tokens = tokenizer.encode(text, parseSpecial: false) + [tokenizer.eosID ?? endOfTurn]
                if packing {
                    stream += tokens
                    continue
                }
                example = TrainingExample(tokens: tokens, weights: [Float](repeating: 1, count: tokens.count))
            case .sft:
                example = try sftExample(object, fail: fail)
            }
            let cut = example.tokens.count > maxLength
                ? TrainingExample(tokens: Array(example.tokens.prefix(maxLength)), weights: Array(example.weights.prefix(maxLength)))
                : example
            if example.trainedTokens == 0, method == .sft {
                throw fail(nil, "the row has no trained tokens (every assistant message has weight 0)")
            }
            guard cut.trainedTokens > 0 else {
                skipped(fail(nil, example.trainedTokens > 0
                    ? "skipped: nothing left to train on after cutting the row to --max-length \(maxLength) tokens"
                    : "skipped: a single token, which nothing predicts"))
                continue
            }
            examples.append(cut)
        }
        if packing {
            var start = 0
            while start + 1 < stream.count {
                let tokens = Array(stream[start..<min(start + maxLength, stream.count)])
                examples.append(TrainingExample(tokens: tokens, weights: [Float](repeating: 1, count: tokens.count)))
                start += maxLength
            }
        }
        guard !examples.isEmpty else {
            throw TrainingDataError(file: name, line: 0, field: nil, message: "the file has no rows to train on")
        }
        return examples
    }

    /// The file's name and its non-empty lines as JSON objects, with their line numbers.
    static func rows(_ path: String) throws(TrainingDataError) -> (String, [(Int, [String: Any])]) {
        let name = (path as NSString).lastPathComponent
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TrainingDataError(file: name, line: 0, field: nil, message: "cannot read the file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw TrainingDataError(file: name, line: 0, field: nil, message: "the file is not UTF-8 text")
        }
        var rows: [(Int, [String: Any])] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty { continue }
            guard let object = (try? JSONSerialization.jsonObject(with: Data(trimmed.utf8))) as? [String: Any] else {
                throw TrainingDataError(file: name, line: index + 1, field: nil, message: "not a JSON object")
            }
            rows.append((index + 1, object))
        }
        return (name, rows)
    }

    /// A conversation given as a JSON list of messages (`tessera score --messages`), rendered as training renders
    /// it: the assistant turns' content and end-of-turn tokens weighted 1.
    public func conversation(json: String) throws(TrainingDataError) -> TrainingExample {
        func fail(_ field: String?, _ message: String) -> TrainingDataError {
            TrainingDataError(file: "--messages", line: 1, field: field, message: message)
        }
        guard let value = try? JSONSerialization.jsonObject(with: Data(json.utf8)) else { throw fail(nil, "not JSON") }
        let list = try messages(value, field: "messages", fail: fail)
        guard list.contains(where: { $0.role == "assistant" }) else { throw fail("messages", "has no assistant message to score") }
        return try chat(list, fail: fail)
    }

    /// A message of a row, checked.
    struct Message {
        var role: String
        var content: String
        var weight: Float
    }

    func messages(_ value: Any?, field: String, fail: (String?, String) -> TrainingDataError) throws(TrainingDataError) -> [Message] {
        guard let list = value as? [Any] else { throw fail(field, "must be a list of messages") }
        var out: [Message] = []
        for (i, item) in list.enumerated() {
            let at = "\(field)[\(i)]"
            guard let m = item as? [String: Any] else { throw fail(at, "must be an object with role and content") }
            guard let role = m["role"] as? String else { throw fail("\(at).role", "missing or not a string") }
            guard ["system", "user", "assistant"].contains(role) else {
                throw fail("\(at).role", "'\(role)' is not one of system, user, assistant")
            }
            guard let content = m["content"] as? String else { throw fail("\(at).content", "missing or not a string") }
            var weight: Float = 1
            if let w = m["weight"] {
                guard role == "assistant" else { throw fail("\(at).weight", "only assistant messages carry a weight") }
                guard let n = w as? NSNumber, n.doubleValue == 0 || n.doubleValue == 1 else {
                    throw fail("\(at).weight", "must be 0 or 1")
                }
                weight = n.floatValue
            }
            out.append(Message(role: role, content: content, weight: weight))
        }
        return out
    }

    private func sftExample(_ object: [String: Any], fail: (String?, String) -> TrainingDataError) throws(TrainingDataError) -> TrainingExample {
        if object["messages"] != nil {
            let list = try messages(object["messages"], field: "messages", fail: fail)
            guard list.contains(where: { $0.role == "assistant" }) else { throw fail("messages", "has no assistant message to train on") }
            return try chat(list, fail: fail)
        }
        guard let prompt = object["prompt"], let completion = object["completion"] else {
            throw fail(nil, "expected {\"messages\": [...]} or {\"prompt\", \"completion\"}")
        }
        if let p = prompt as? String, let c = completion as? String {
            let promptTokens = tokenizer.encode(p, parseSpecial: false)
            let completionTokens = tokenizer.encode(c, parseSpecial: false) + [tokenizer.eosID ?? endOfTurn]
            return TrainingExample(tokens: promptTokens + completionTokens,
                                   weights: [Float](repeating: 0, count: promptTokens.count) + [Float](repeating: 1, count: completionTokens.count))
        }
        var list = try messages(prompt, field: "prompt", fail: fail)
        let answers = try messages(completion, field: "completion", fail: fail)
        guard !answers.isEmpty, answers.allSatisfy({ $0.role == "assistant" }) else {
            throw fail("completion", "must be assistant messages")
        }
        list += answers
        return try chat(list, fail: fail)
    }

    /// The chat template over the conversation, cut into pieces at each assistant message: the text before its
    /// content (untrained), its content and the end-of-turn token (trained with the message's weight), and so on.
    func chat(_ list: [Message], fail: (String?, String) -> TrainingDataError) throws(TrainingDataError) -> TrainingExample {
        guard let template else { throw fail("messages", "the model has no chat template to render messages with") }
        func render(_ m: ArraySlice<Message>, generation: Bool) throws(TrainingDataError) -> String {
            do {
                return try template.render(messages: m.map { ($0.role, $0.content) }, addGenerationPrompt: generation, tokenizer: tokenizer)
            } catch {
                throw fail("messages", "the chat template failed: \(error.message)")
            }
        }
        let endText = tokenizer.tokens[Int(endOfTurn)]
        var tokens: [Int32] = [], weights: [Float] = []
        func add(_ text: Substring, weight: Float) {
            // Each piece is tokenized as it would be inside the whole conversation: a piece that follows plain text
            // gets no SentencePiece space prefix.
            // After a special token that swallows the whitespace behind it (Phi-3's), that whitespace goes too.
            let afterSpecial = tokens.last.map { tokenizer.isSpecial($0) } ?? true
            var text = text
            if let last = tokens.last, tokenizer.attributes(of: last).contains(.rstrip) {
                text = Substring(text.unicodeScalars.drop { $0 == " " || ("\t"..."\r").contains($0) })
            }
            let t = tokenizer.encode(String(text), parseSpecial: true, continuesText: !afterSpecial)
            tokens += t
            weights += [Float](repeating: weight, count: t.count)
        }
        var done = ""  // the conversation's text so far
        for (i, m) in list.enumerated() where m.role == "assistant" {
            let before = try render(list[..<i], generation: true)
            let through = try render(list[...i], generation: false)
            guard before.hasPrefix(done), through.hasPrefix(before),
                  through.dropFirst(before.count).hasPrefix(m.content + endText) else {
                throw fail("messages[\(i)]", "the chat template does not render this conversation turn by turn")
            }
            add(before.dropFirst(done.count), weight: 0)
            add(Substring(m.content), weight: m.weight)
            tokens.append(endOfTurn)
            weights.append(m.weight)
            done = before + m.content + endText
        }
        let full = try render(list[...], generation: false)
        if full.count > done.count, full.hasPrefix(done) { add(full.dropFirst(done.count), weight: 0) }
        return TrainingExample(tokens: tokens, weights: weights)
    }
}
