import Foundation

/// The shape of a training file's rows, checked at upload so a file the trainer cannot read is refused there, with
/// the line that is wrong (DESIGN 4: OpenAI's chat and preference rows, TRL's prompt/completion and
/// prompt/chosen/rejected, `{"text"}` for continued pre-training, `{"prompt"}` alone for methods that generate).
/// Tokenizing and lengths are the trainer's to check; a job whose trainer refuses its file fails naming the file.
public enum TrainingFileFormat: String, Sendable, CaseIterable {
    case chat, promptCompletion = "prompt_completion", preference, text, prompt

    /// Which formats each method reads.
    public static func accepted(by method: String) -> Set<TrainingFileFormat> {
        switch method {
        case "supervised": [.chat, .promptCompletion]
        case "dpo", "reward": [.preference]
        case "pretrain": [.text]
        case "distill": [.chat]
        case "rlhf", "constitutional": [.prompt, .chat]
        default: []
        }
    }

    public struct Problem: Error, CustomStringConvertible, Equatable {
        public let line: Int
        public let message: String
        public var description: String { "line \(line): \(message)" }
    }

    /// Rows and their one format; throws the first line that is not a row of a known format, or whose format differs
    /// from the first row's.
    public static func check(_ data: Data, maxLines: Int = 1_000_000) throws(Problem) -> (format: TrainingFileFormat, lines: Int) {
        var format: TrainingFileFormat?
        var rows = 0, number = 0
        for line in data.split(separator: 0x0a, omittingEmptySubsequences: false) {
            number += 1
            let bytes = line.last == 0x0d ? line.dropLast() : line
            if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            rows += 1
            guard rows <= maxLines else { throw Problem(line: number, message: "more than \(maxLines) rows") }
            guard String(data: Data(bytes), encoding: .utf8) != nil else { throw Problem(line: number, message: "not UTF-8") }
            let object: [String: Any]
            do {
                guard let o = try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]) as? [String: Any] else {
                    throw Problem(line: number, message: "not a JSON object")
                }
                object = o
            } catch let p as Problem {
                throw p
            } catch {
                throw Problem(line: number, message: "not valid JSON (JSONL holds one JSON object per line)")
            }
            let found: TrainingFileFormat
            do { found = try row(object) } catch { throw Problem(line: number, message: error.message) }
            if let format, format != found, !(Set([format, found]).isSubset(of: [.chat, .prompt])) {
                throw Problem(line: number, message: "a \(found.rawValue) row in a file of \(format.rawValue) rows")
            }
            // Chat rows without an answer make the file a file of prompts (fit for the methods that generate only).
            format = format.map { $0 == found ? $0 : .prompt } ?? found
        }
        guard let format else { throw Problem(line: max(1, number), message: "the file has no rows") }
        return (format, rows)
    }

    struct RowError: Error { let message: String }

    /// The format of one row, by its keys.
    static func row(_ o: [String: Any]) throws(RowError) -> TrainingFileFormat {
        if o["preferred_output"] != nil || o["non_preferred_output"] != nil {
            guard let input = o["input"] as? [String: Any] else { throw RowError(message: "'input' must be an object with 'messages'") }
            try messages(input["messages"], field: "input.messages", needAssistant: false)
            for field in ["preferred_output", "non_preferred_output"] {
                guard let list = o[field] as? [Any], !list.isEmpty else { throw RowError(message: "'\(field)' must be a non-empty list of assistant messages") }
                try messages(list, field: field, needAssistant: true)
            }
            return .preference
        }
        if o["chosen"] != nil || o["rejected"] != nil {
            for field in ["prompt", "chosen", "rejected"] { try text(o[field], field: field) }
            return .preference
        }
        if o["messages"] != nil {
            let assistant = try messages(o["messages"], field: "messages", needAssistant: false)
            return assistant ? .chat : .prompt
        }
        if o["completion"] != nil {
            try text(o["prompt"], field: "prompt")
            try text(o["completion"], field: "completion")
            return .promptCompletion
        }
        if o["text"] != nil {
            try text(o["text"], field: "text")
            return .text
        }
        if o["prompt"] != nil {
            try text(o["prompt"], field: "prompt")
            return .prompt
        }
        throw RowError(message: "a row needs 'messages' (chat), 'prompt' and 'completion', 'input' with 'preferred_output' and 'non_preferred_output' (preference), 'prompt', 'chosen' and 'rejected', or 'text'")
    }

    static func text(_ value: Any?, field: String) throws(RowError) {
        guard let s = value as? String, !s.isEmpty else { throw RowError(message: "'\(field)' must be a non-empty string") }
    }

    /// Checks a list of chat messages; returns whether an assistant message is among them.
    @discardableResult
    static func messages(_ value: Any?, field: String, needAssistant: Bool) throws(RowError) -> Bool {
        guard let list = value as? [Any], !list.isEmpty else { throw RowError(message: "'\(field)' must be a non-empty list of messages") }
        var assistant = false
        for (i, item) in list.enumerated() {
            guard let m = item as? [String: Any] else { throw RowError(message: "\(field)[\(i)] must be an object") }
            // What the trainer reads (TrainingData): these roles, string contents, weights on answers only.
            guard let role = m["role"] as? String, ["system", "user", "assistant"].contains(role) else {
                throw RowError(message: "\(field)[\(i)].role must be system, user or assistant")
            }
            guard m["content"] is String else { throw RowError(message: "\(field)[\(i)].content must be a string") }
            if let w = m["weight"] {
                guard role == "assistant" else { throw RowError(message: "\(field)[\(i)].weight: only assistant messages carry a weight") }
                guard let n = w as? NSNumber, !FineTuningRequest.isBool(n), [0, 1].contains(n.doubleValue) else {
                    throw RowError(message: "\(field)[\(i)].weight must be 0 or 1")
                }
            }
            if role == "assistant" { assistant = true }
            if needAssistant, role != "assistant" { throw RowError(message: "\(field)[\(i)] must be an assistant message") }
        }
        return assistant
    }
}
