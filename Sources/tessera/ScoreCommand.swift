import ArgumentParser
import Foundation
import TesseraModel
import TesseraTokenizer

struct ScoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Teacher-forced per-token log-probabilities of a text, and its perplexity.")

    @OptionGroup var model: ModelOptions
    @OptionGroup var adapter: AdapterOptions

    @Option(name: .long, help: "Text to score.")
    var text: String?

    @Option(name: .long, help: "Token ids to score, as a JSON array (instead of --text).")
    var tokens: String?

    @Flag(name: .long, help: "Print {\"tokens\": [...], \"logprobs\": [...], \"perplexity\": N}.")
    var json = false

    func run() throws {
        let (lm, tokenizer) = try loadModel(model)
        let ids: [Int32]
        if let tokens {
            guard let parsed = try? JSONDecoder().decode([Int32].self, from: Data(tokens.utf8)) else {
                throw CLIError("--tokens must be a JSON array of integers")
            }
            ids = parsed
        } else if let text {
            ids = tokenizer.encode(text)
        } else {
            throw ValidationError("give --text or --tokens")
        }
        guard ids.count >= 2 else { throw CLIError("need at least two tokens to score, got \(ids.count)") }
        let adapters = try adapter.load(for: lm)
        let logprobs = try runOrExit { try Scoring.logprobs(model: lm, tokens: ids, adapters: adapters) }
        let perplexity = exp(-logprobs.reduce(0, +) / Double(logprobs.count))
        if json {
            let result = ScoreResult(tokens: ids, logprobs: logprobs, perplexity: perplexity)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
        } else {
            for (i, lp) in logprobs.enumerated() {
                print(String(format: "%6d %10.5f  %@", ids[i + 1], lp, String(reflecting: tokenizer.decode([ids[i + 1]]))))
            }
            print(String(format: "perplexity %.4f over %d tokens", perplexity, logprobs.count))
        }
    }
}

struct ScoreResult: Codable {
    let tokens: [Int32]
    let logprobs: [Double]
    let perplexity: Double
}

/// Opens the GGUF once and builds both the model and its tokenizer from it.
func loadModel(_ options: ModelOptions) throws -> (any LanguageModel, Tokenizer) {
    try runOrExit {
        let gguf = try options.open()
        return (try ModelRegistry.load(gguf), try Tokenizer(gguf: gguf))
    }
}
