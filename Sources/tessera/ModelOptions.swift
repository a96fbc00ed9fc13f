import ArgumentParser
import Foundation
import TesseraFormats

/// `--model`, shared by every command that reads the base model.
struct ModelOptions: ParsableArguments {
    static let defaultPath = "models/SmolLM2-135M-Instruct.Q4_1.gguf"

    @Option(name: .long, help: "GGUF model file (default: $TESSERA_MODEL or \(ModelOptions.defaultPath)).")
    var model: String?

    var path: String { model ?? ProcessInfo.processInfo.environment["TESSERA_MODEL"] ?? Self.defaultPath }

    func open() throws -> GGUFFile {
        do {
            return try GGUFFile(path: path)
        } catch {
            throw CLIError("\(error)")
        }
    }
}

/// An error the CLI reports as one line on stderr, exiting 1.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}
