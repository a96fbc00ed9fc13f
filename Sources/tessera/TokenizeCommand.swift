import ArgumentParser
import Foundation
import TesseraTokenizer

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Print the token ids of a text, as llama.cpp tokenizes it. Works on vocab-only GGUF files too.",
        discussion: "Control tokens written in the text are recognised unless --no-parse-special.")

    @OptionGroup var model: ModelOptions

    @Flag(name: .long, help: "Print a JSON array of ids (the default prints one id and its text per line).")
    var json = false

    @Flag(name: .long, help: "Read one JSON string per line from stdin; print one JSON id array per line.")
    var jsonl = false

    @Flag(name: .long, help: "Add the model's BOS/EOS as it does for a prompt (llama.cpp's add_special).")
    var addSpecial = false

    @Flag(name: .long, help: "Treat control tokens written in the text as plain text (llama.cpp's parse_special = false).")
    var noParseSpecial = false

    @Argument(help: "Text to tokenize.")
    var text: String?

    func run() throws {
        let tokenizer = try runOrExit { try Tokenizer(gguf: model.open()) }
        if jsonl {
            while let line = readLine(strippingNewline: true) {
                guard !line.isEmpty else { continue }
                guard let data = line.data(using: .utf8),
                      let s = try? JSONDecoder().decode(String.self, from: data) else {
                    throw CLIError("stdin line is not a JSON string: \(line.prefix(80))")
                }
                print(jsonArray(tokenizer.encode(s, addSpecial: addSpecial, parseSpecial: !noParseSpecial)))
            }
            return
        }
        guard let text else { throw ValidationError("give a TEXT argument, or --jsonl to read from stdin") }
        let ids = tokenizer.encode(text, addSpecial: addSpecial, parseSpecial: !noParseSpecial)
        if json {
            print(jsonArray(ids))
        } else {
            for id in ids { print(id, String(reflecting: tokenizer.decode([id]))) }
        }
    }

    private func jsonArray(_ ids: [Int32]) -> String { "[" + ids.map(String.init).joined(separator: ",") + "]" }
}

/// Runs `body`, turning any error into a one-line CLIError.
func runOrExit<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let e as CLIError { throw e } catch { throw CLIError("\(error)") }
}
