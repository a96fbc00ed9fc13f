import ArgumentParser
import Foundation
import TesseraModel
import TesseraTokenizer
import TesseraTraining

struct ScoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Teacher-forced per-token log-probabilities of a text, and its perplexity; or a reward model's score.")

    @OptionGroup var model: ModelOptions
    @OptionGroup var adapter: AdapterOptions

    @Option(name: .long, help: "Text to score.")
    var text: String?

    @Option(name: .long, help: "Token ids to score, as a JSON array (instead of --text).")
    var tokens: String?

    @Option(name: .long, help: "A conversation to score, as a JSON list of messages rendered by the chat template.")
    var messages: String?

    @Option(help: "A reward model (`tessera train --method reward`, or PEFT's SEQ_CLS LoRA with its score head): print its score.")
    var rewardModel: String?

    @Flag(name: .long, help: "Print {\"tokens\": [...], \"logprobs\": [...], \"perplexity\": N} (with --reward-model, {\"reward\": R}).")
    var json = false

    func validate() throws {
        guard [text, tokens, messages].compactMap({ $0 }).count == 1 else { throw ValidationError("give one of --text, --tokens or --messages") }
        guard rewardModel == nil || adapter.specs.isEmpty else { throw ValidationError("--reward-model is an adapter itself: no --adapter with it") }
    }

    func run() throws {
        if let rewardModel { return try reward(rewardModel) }
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
            ids = try runOrExit { try TrainingData(tokenizer: tokenizer).conversation(json: messages ?? "").tokens }
        }
        guard ids.count >= 2 else { throw CLIError("need at least two tokens to score, got \(ids.count)") }
        let adapters = try adapter.load(for: lm)
        let logprobs = try runOrExit { try Scoring.logprobs(model: lm, tokens: ids, adapters: adapters, cache: model.kvCacheDtype) }
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

extension ScoreCommand {
    /// The reward model's score of the sequence, read on its last token as in training.
    func reward(_ path: String) throws {
        let (decoder, tokenizer) = try runOrExit { () throws -> (DecoderModel, Tokenizer) in
            let gguf = try model.open()
            return (try ModelRegistry.load(gguf, repack: false), try Tokenizer(gguf: gguf))
        }
        let reward = try runOrExit { try PEFTDirectory.read(path, config: decoder.config) }
        guard reward.hasScoreHead else { throw CLIError("--reward-model \(path): not a reward model (no score head; task_type is not SEQ_CLS)") }
        let ids: [Int32]
        if let tokens {
            guard let parsed = try? JSONDecoder().decode([Int32].self, from: Data(tokens.utf8)), parsed.allSatisfy({ (0..<Int32(decoder.config.vocab)).contains($0) }) else {
                throw CLIError("--tokens must be a JSON array of token ids")
            }
            ids = parsed
        } else if let text {
            ids = tokenizer.encode(text)
        } else {
            ids = try runOrExit { try TrainingData(tokenizer: tokenizer).conversation(json: messages ?? "").tokens }
        }
        guard !ids.isEmpty, ids.count <= decoder.config.contextLength else {
            throw CLIError("the sequence is \(ids.count) tokens; a score needs 1...\(decoder.config.contextLength)")
        }
        let pass = AdapterPass(base: decoder.weights, lora: reward)
        let score = pass.sequenceNLLs([TrainingExample(tokens: ids, weights: [Float](repeating: 0, count: ids.count))])[0]
        print(json ? "{\"reward\":\(score)}" : String(format: "reward %.6f over %d tokens", score, ids.count))
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
