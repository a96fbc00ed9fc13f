import Foundation
import TesseraEngine
import TesseraModel
import TesseraTokenizer
import TesseraTraining

/// `tessera bench --train`: training throughput on the frozen base, the configurations `make bench-train` gives
/// transformers + peft (tools/bench/train_reference.py): LoRA and DoRA r16 alpha 32 on every linear projection, and
/// prompt tuning of 20 virtual tokens; AdamW, batches of 8 sequences of 256 token ids, at --train-precision; the
/// median step after a warm-up step, and the peak RSS so far. One result per kind. `dpo`: the LoRA on 4 preference
/// pairs per step (8 sequences: a shared 128-token prompt, answers of 128), reference log-likelihoods cached before
/// the timed steps, as both sides do.
struct TrainBench {
    enum Kind: String, CaseIterable { case lora, dora, prompt, dpo }

    let model: ModelOptions
    let batch: Int
    let length: Int
    let steps: Int
    let kinds: [Kind]
    let precision: TrainingPrecision

    struct Result: Encodable {
        let kind: String
        let tokensPerSecond: Double
        let peakRSSBytes: Int
        let batch: Int
        let length: Int
        let threads: Int
        let precision: String

        enum CodingKeys: String, CodingKey {
            case kind, tokensPerSecond = "tokens_per_s", peakRSSBytes = "peak_rss_bytes", batch, length, threads, precision
        }
    }

    func run(json: Bool) throws {
        let gguf = try model.open()
        let llama = try runOrExit { try LlamaModel(gguf: gguf, repack: false) }
        let base = llama.baseWeights
        let threads = Int(ProcessInfo.processInfo.environment["TESSERA_THREADS"] ?? "") ?? ProcessInfo.processInfo.activeProcessorCount
        TrainingThreads.set(threads)
        var rng = RandomSource(seed: 0)
        let examples = (0..<batch).map { _ in
            let tokens = (0..<length).map { _ in Int32(rng.next() % UInt64(base.config.vocab)) }
            return TrainingExample(tokens: tokens, weights: [Float](repeating: 1, count: length))
        }
        var settings = Trainer.Settings()
        settings.batchSize = batch
        settings.maxSteps = steps + 1
        settings.warmupRatio = 0
        settings.threads = threads
        settings.precision = precision
        for kind in kinds {
            var adapter: AdapterParameters
            switch kind {
            case .lora, .dora, .dpo:
                var options = LoRAOptions()
                options.dora = kind == .dora
                adapter = AdapterParameters(config: base.config, options: options, seed: 0)
                adapter.startMagnitudes(base: base)
            case .prompt:
                adapter = AdapterParameters(config: base.config, promptEmbeddings: PromptInit.random.embeddings(
                    20, base: base, tokenizer: try runOrExit { try Tokenizer(gguf: gguf) }, seed: 0))
            }
            var trainer = Trainer(base: base, lora: adapter, settings: settings)
            var rates: [Double] = []
            let record: (Trainer.Event) -> Void = { if case .step(_, _, _, _, _, _, let r, _) = $0 { rates.append(r) } }
            if kind == .dpo {
                var dpoSettings = settings
                dpoSettings.batchSize = batch / 2
                trainer = Trainer(base: base, lora: adapter, settings: dpoSettings)
                let pairs = (0..<(batch / 2)).map { i in
                    let prompt = Array(examples[2 * i].tokens.prefix(length / 2))
                    func answer(_ e: TrainingExample) -> TrainingExample {
                        TrainingExample(tokens: prompt + e.tokens.suffix(length - prompt.count),
                                        weights: [Float](repeating: 0, count: prompt.count) + [Float](repeating: 1, count: length - prompt.count))
                    }
                    return PreferencePair(chosen: answer(examples[2 * i]), rejected: answer(examples[2 * i + 1]))
                }
                try trainer.train(DPOObjective(beta: 0.1), trainer.referenced(pairs), events: record)
            } else {
                try trainer.train(examples, events: record)
            }
            let measured = rates.dropFirst().sorted()
            let result = Result(kind: kind.rawValue, tokensPerSecond: measured[measured.count / 2], peakRSSBytes: peakRSS(),
                                batch: batch, length: length, threads: threads, precision: precision.rawValue)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                print(String(decoding: try encoder.encode(result), as: UTF8.self))
            } else {
                print(String(format: "training %@ (%@ products), batch %d x %d tokens, %d threads: %.1f tok/s, peak RSS so far %d MiB",
                             result.kind, result.precision, batch, length, threads, result.tokensPerSecond, result.peakRSSBytes >> 20))
            }
        }
    }
}
