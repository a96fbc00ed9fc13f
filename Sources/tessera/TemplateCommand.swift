import ArgumentParser
import Foundation
import TesseraFormats
import TesseraTokenizer

/// `tessera template render`: a chat template rendered by hand, to compare with jinja2 (transformers'
/// `apply_chat_template(..., tokenize=False)`).
struct TemplateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "template",
        abstract: "Chat templates.",
        subcommands: [Render.self])

    struct Render: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a conversation rendered by a chat template, as transformers' apply_chat_template renders it.",
            discussion: """
                INPUT is a JSON object (inline, a file path, or - for stdin) holding `messages` and optionally `tools`, \
                `documents`, `add_generation_prompt` (default false), `bos_token`, `eos_token`; any other key is a \
                template variable, like apply_chat_template's extra keyword arguments (e.g. `date_string`). With \
                --model, the template is the GGUF's own (or --chat-template's) and bos_token/eos_token default to the \
                model's tokens.
                """)

        @Option(name: .long, help: "GGUF file (a model or a vocab-only file) whose chat template and special tokens to use.")
        var model: String?

        @Option(name: .long, help: "A Jinja template file (instead of, or overriding, the model's own).")
        var template: String?

        @Option(name: .long, help: "The conversation: inline JSON, a file path, or - for stdin.")
        var input: String

        func run() throws {
            let tokenizer: Tokenizer? = try model.map { path in try runOrExit { try Tokenizer(gguf: GGUFFile(path: path)) } }
            let source: String
            if let template {
                guard let data = FileManager.default.contents(atPath: template) else { throw CLIError("cannot read --template \(template)") }
                source = String(decoding: data, as: UTF8.self)
            } else if let own = tokenizer?.chatTemplate {
                source = own
            } else {
                throw ValidationError(model == nil ? "give --model GGUF or --template FILE" : "\(model!) has no chat template; give --template FILE")
            }
            let chat = try runOrExit { try ChatTemplate(source) }
            var variables = try runOrExit { try Self.variables(try Self.read(input)) }
            if let tokenizer {
                for (key, id) in [("bos_token", tokenizer.bosID), ("eos_token", tokenizer.eosID)] where variables[key] == nil {
                    if let id { variables[key] = .string(tokenizer.tokens[Int(id)]) }
                }
            }
            let text = try runOrExit { try chat.applyChatTemplate(variables) }
            FileHandle.standardOutput.write(Data(text.utf8))
        }

        static func read(_ input: String) throws -> String {
            if input == "-" { return String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self) }
            if input.first == "{" { return input }
            guard let data = FileManager.default.contents(atPath: input) else { throw CLIError("cannot read --input \(input)") }
            return String(decoding: data, as: UTF8.self)
        }

        /// The input object's keys as template variables; `messages` must be there and be a list.
        static func variables(_ json: String) throws -> [String: JinjaValue] {
            guard case .dict(let pairs) = try JinjaValue(jsonText: json) else { throw CLIError("--input must be a JSON object") }
            var out: [String: JinjaValue] = [:]
            for (k, v) in pairs { out[k] = v }
            guard case .array = out["messages"] else { throw CLIError("--input needs \"messages\": a list of messages") }
            return out
        }
    }
}
