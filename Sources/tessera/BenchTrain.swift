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
/// the timed steps, as both sides do. `distill`: the LoRA on context distillation, forward KL to the base reading a
/// 64-token system prompt before each sequence (prompt 64 tokens, answer the rest), its top-64 cached before the
/// timed steps. `rollout`: RLHF's generation, 16 prompts of 64 tokens answered with 64 sampled tokens each through
/// the batched engine (as `--method rlhf` rolls out), against the same answers generated one sequence at a time.
struct TrainBench {
    enum Kind: String, CaseIterable { case lora, dora, prompt, dpo, distill, rollout }

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
        /// `rollout`: the same generation one sequence at a time.
        var sequentialTokensPerSecond: Double?

        enum CodingKeys: String, CodingKey {
            case kind, tokensPerSecond = "tokens_per_s", peakRSSBytes = "peak_rss_bytes", batch, length, threads, precision
            case sequentialTokensPerSecond = "sequential_tokens_per_s"
        }
    }

    func run(json: Bool) throws {
        let gguf = try model.open()
        let decoder = try runOrExit { try ModelRegistry.load(gguf, repack: false) }
        let base = decoder.weights
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
            if kind == .rollout {
                try rollouts(decoder, tokenizer: try runOrExit { try Tokenizer(gguf: gguf) }, threads: threads, json: json)
                continue
            }
            var adapter: AdapterParameters
            switch kind {
            case .lora, .dora, .dpo, .distill, .rollout:
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
            } else if kind == .distill {
                let rows = examples.map { e in
                    let system = (0..<64).map { _ in Int32(rng.next() % UInt64(base.config.vocab)) }
                    let prompt = Array(e.tokens.prefix(length / 4))
                    return DistillationRow(prompt: prompt, teacherPrompt: system + prompt, answer: Array(e.tokens.dropFirst(length / 4)))
                }
                let taught = trainer.teacher(nil, topK: 64, temperature: 1).teach(rows, batchSize: batch, threads: threads)
                try trainer.train(DistillObjective(loss: DistillationLoss()), taught, events: record)
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

    /// RLHF's rollouts: through the engine together, then one by one with the single-sequence generator, the same
    /// prompts and sampling (a LoRA of rank 16 on every projection, as the policy would be).
    func rollouts(_ decoder: DecoderModel, tokenizer: Tokenizer, threads: Int, json: Bool) throws {
        var rng = RandomSource(seed: 1)
        let prompts = (0..<16).map { _ in (0..<64).map { _ in Int32(rng.next() % UInt64(decoder.config.vocab)) } }
        var sampling = SamplingParameters()
        sampling.maxTokens = 64
        sampling.ignoreEOS = true  // every answer its full length on both sides
        sampling.seed = 7
        var lora = AdapterParameters(config: decoder.config, options: LoRAOptions(), seed: 0)
        for i in lora.tensors.indices { lora.tensors[i] = lora.tensors[i].map { $0 * 0.5 } }
        let adapter = lora.servingWeights(base: decoder.weights)
        let generator = BatchGenerator(model: decoder, tokenizer: tokenizer, endOfTurn: -1)  // no turn ends: full lengths
        _ = try generator.generate(Array(prompts.prefix(2)), adapter: adapter, parameters: [sampling])  // warm-up
        var started = Date()
        let answers = try generator.generate(prompts, adapter: adapter, parameters: [sampling])
        let batched = Double(answers.reduce(0) { $0 + $1.tokens.count }) / Date().timeIntervalSince(started)
        let single = Generator(model: decoder, tokenizer: tokenizer)
        started = Date()
        var tokens = 0
        for p in prompts { tokens += try single.generate(prompt: p, parameters: sampling, adapters: [AppliedAdapter(adapter)]).tokens.count }
        let sequential = Double(tokens) / Date().timeIntervalSince(started)
        var result = Result(kind: "rollout", tokensPerSecond: batched, peakRSSBytes: peakRSS(), batch: prompts.count, length: 64,
                            threads: threads, precision: "serving")
        result.sequentialTokensPerSecond = sequential
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
        } else {
            print(String(format: "rollouts: %d prompts x 64 tokens, batched through the engine %.1f tok/s, one at a time %.1f tok/s (%.2fx)",
                         prompts.count, batched, sequential, batched / sequential))
        }
    }
}
