import ArgumentParser
import Foundation
import TesseraFormats
import TesseraKernels
import TesseraTokenizer

/// `--model`, shared by every command that reads the base model.
struct ModelOptions: ParsableArguments {
    static let defaultPath = "models/SmolLM2-135M-Instruct.Q4_1.gguf"

    @Option(name: .long, help: "GGUF model file (default: $TESSERA_MODEL or \(ModelOptions.defaultPath)).")
    var model: String?

    @Option(name: .long, help: "A Jinja chat template file to use instead of the model's own (tokenizer.chat_template).")
    var chatTemplate: String?

    @Option(name: .long, help: "How the KV cache stores keys and values: f16 (half the bytes) or fp32 (exact).")
    var kvCacheDtype = KVCacheType.standard

    var path: String { model ?? ProcessInfo.processInfo.environment["TESSERA_MODEL"] ?? Self.defaultPath }

    /// The chat template the model is used with: `--chat-template FILE`, else the GGUF's own; nil when neither
    /// exists. A template that needs something the engine does not support fails here, at load, not per request.
    func template(for tokenizer: Tokenizer) throws -> ChatTemplate? {
        let source: String
        let origin: String
        if let file = chatTemplate {
            guard let data = FileManager.default.contents(atPath: file) else { throw CLIError("cannot read --chat-template \(file)") }
            source = String(decoding: data, as: UTF8.self)
            origin = file
        } else if let own = tokenizer.chatTemplate {
            source = own
            origin = "\(path) (tokenizer.chat_template)"
        } else {
            return nil
        }
        do {
            return try ChatTemplate(source)
        } catch {
            throw CLIError("the chat template of \(origin) cannot be used: \(error.message)")
        }
    }

    func open() throws -> GGUFFile {
        do {
            return try GGUFFile(path: path)
        } catch {
            throw CLIError("\(error)")
        }
    }
}

extension KVCacheType: ExpressibleByArgument {}

/// An error the CLI reports as one line on stderr, exiting 1.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}
