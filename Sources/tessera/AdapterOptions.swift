import ArgumentParser
import Foundation
import TesseraAdapters
import TesseraModel

/// `--adapter DIR[:WEIGHT]`, repeatable: PEFT directories applied to the request; several LoRAs add up by weight.
struct AdapterOptions: ParsableArguments {
    @Option(name: .customLong("adapter"), help: ArgumentHelp(
        "PEFT adapter directory (LoRA, DoRA, prompt, P- or prefix tuning); DIR:WEIGHT and repeated --adapter compose LoRAs.",
        valueName: "dir[:weight]"))
    var specs: [String] = []

    /// Loads every adapter against `model`; warnings go to stderr.
    func load(for model: any LanguageModel) throws -> [AppliedAdapter] {
        try specs.map { spec in
            var path = spec, weight: Float = 1
            if let colon = spec.lastIndex(of: ":"), let w = Float(spec[spec.index(after: colon)...]) {
                path = String(spec[..<colon])
                weight = w
            }
            guard weight.isFinite else { throw CLIError("--adapter \(spec): the weight must be a finite number") }
            let loaded = try runOrExit { try PEFTAdapter.load(directory: path, model: model) }
            for w in loaded.warnings { FileHandle.standardError.write(Data("warning: \(path): \(w)\n".utf8)) }
            return AppliedAdapter(loaded.weights, scale: weight)
        }
    }
}
