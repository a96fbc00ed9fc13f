import Foundation

/// One prompt of a JSONL dataset: `{"prompt": "text" | [token ids], "output_len": N, "input_len": N}`; the lengths
/// are optional (input from the server's usage, output from the scenario).
public struct DatasetEntry: Sendable, Equatable {
    public var prompt: Prompt
    public var inputLength: Int
    public var outputLength: Int?

    /// Reads the whole file; every line is checked and a bad one is named by its line number.
    public static func load(path: String, limit: Int = 1 << 30) throws(LoadTestError) -> [DatasetEntry] {
        guard let data = FileManager.default.contents(atPath: path) else { throw LoadTestError("cannot read dataset \(path)") }
        guard data.count <= limit else { throw LoadTestError("dataset \(path) is larger than \(limit) bytes") }
        var out: [DatasetEntry] = []
        for (n, line) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            if line.allSatisfy({ $0 == 32 || $0 == 9 || $0 == 13 }) { continue }
            out.append(try parse(Data(line), where: "\(path):\(n + 1)"))
        }
        guard !out.isEmpty else { throw LoadTestError("dataset \(path) has no prompts") }
        return out
    }

    static func parse(_ line: Data, where place: String) throws(LoadTestError) -> DatasetEntry {
        guard let object = try? JSONSerialization.jsonObject(with: line), let o = object as? [String: Any] else {
            throw LoadTestError("\(place): not a JSON object")
        }
        let prompt: Prompt
        var inputLength: Int
        if let s = o["prompt"] as? String, !s.isEmpty {
            prompt = .text(s)
            inputLength = s.split(separator: " ").count
        } else if let ids = o["prompt"] as? [Any], !ids.isEmpty, let ints = ids as? [Int] {
            prompt = .tokens(ints)
            inputLength = ints.count
        } else {
            throw LoadTestError("\(place): \"prompt\" must be a non-empty string or array of token ids")
        }
        if let v = o["input_len"] {
            guard let n = v as? Int, n >= 1 else { throw LoadTestError("\(place): \"input_len\" must be a positive integer") }
            inputLength = n
        }
        var outputLength: Int?
        if let v = o["output_len"] {
            guard let n = v as? Int, n >= 1 else { throw LoadTestError("\(place): \"output_len\" must be a positive integer") }
            outputLength = n
        }
        return DatasetEntry(prompt: prompt, inputLength: inputLength, outputLength: outputLength)
    }
}
