import ArgumentParser
import Foundation
import TesseraEngine
import TesseraModel
import TesseraTokenizer

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate text from a prompt, streaming it to stdout.")

    @OptionGroup var model: ModelOptions
    @OptionGroup var adapter: AdapterOptions

    @Flag(name: .long, help: "Treat the prompt as a user message and apply the model's chat template.")
    var chat = false

    @Option(name: .long, help: "System message (with --chat).")
    var system: String?

    @Option(name: .long, help: "Most tokens to generate.")
    var maxTokens = 256

    @Option(name: .long, help: "0 is greedy.")
    var temperature: Float = 0.7

    @Option(name: .long) var topK = 0
    @Option(name: .long) var topP: Float = 1
    @Option(name: .long) var minP: Float = 0
    @Option(name: .long) var repetitionPenalty: Float = 1
    @Option(name: .long) var presencePenalty: Float = 0
    @Option(name: .long) var frequencyPenalty: Float = 0
    @Option(name: .long, help: "Seed for reproducible sampling.") var seed: UInt64?
    @Option(name: .long, help: "Stop before this string (repeatable).") var stop: [String] = []
    @Flag(name: .long, help: "Keep going past the end-of-sequence token.") var ignoreEOS = false
    @Flag(name: .long, help: "Print token counts and speed to stderr at the end.") var stats = false

    @Argument(help: "The prompt.")
    var prompt: String

    func run() throws {
        let (lm, tokenizer) = try loadModel(model)
        let adapters = try adapter.load(for: lm)
        let text = try chat ? runOrExit { try renderChat(tokenizer) } : prompt
        let ids = chat ? tokenizer.encodeRendered(text) : tokenizer.encode(text, addSpecial: true)

        var p = SamplingParameters()
        p.temperature = temperature
        p.topK = topK
        p.topP = topP
        p.minP = minP
        p.repetitionPenalty = repetitionPenalty
        p.presencePenalty = presencePenalty
        p.frequencyPenalty = frequencyPenalty
        p.seed = seed
        p.maxTokens = maxTokens
        p.stop = stop
        p.ignoreEOS = ignoreEOS

        let started = Date()
        let result = try runOrExit {
            try Generator(model: lm, tokenizer: tokenizer, cacheType: model.kvCacheDtype).generate(prompt: ids, parameters: p, adapters: adapters) { piece in
                FileHandle.standardOutput.write(Data(piece.utf8))
            }
        }
        FileHandle.standardOutput.write(Data("\n".utf8))
        if stats {
            let seconds = Date().timeIntervalSince(started)
            FileHandle.standardError.write(Data(String(
                format: "prompt %d tokens, generated %d tokens in %.2f s (%.1f tok/s), finish: %@\n",
                ids.count, result.tokens.count, seconds, Double(result.tokens.count) / seconds,
                result.finishReason.rawValue).utf8))
        }
    }

    private func renderChat(_ tokenizer: Tokenizer) throws -> String {
        guard let template = try model.template(for: tokenizer) else {
            throw CLIError("the model has no chat template; drop --chat or give --chat-template FILE")
        }
        var messages: [(role: String, content: String)] = []
        if let system { messages.append(("system", system)) }
        messages.append(("user", prompt))
        return try template.render(messages: messages, addGenerationPrompt: true, tokenizer: tokenizer)
    }
}
