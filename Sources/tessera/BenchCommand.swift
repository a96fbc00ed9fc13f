import ArgumentParser
import Foundation
import TesseraAdapters
import TesseraEngine
import TesseraKernels
import TesseraModel
import TesseraTraining

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure prefill and batched decode speed on this machine.",
        discussion: """
            Prefill: one 512-token prompt. Decode: 1, 8 and 32 sequences generating together, 128 new tokens each \
            after a 128-token prompt (aggregate tokens/s, like llama-batched-bench). Each after a warm-up.
            """)

    @OptionGroup var model: ModelOptions

    @Flag(name: .long, help: "Print one JSON object.")
    var json = false

    @Option(name: .long, help: "Prompt length of the prefill measurement.")
    var prefillTokens = 512

    @Option(name: .long, help: "Prompt length before decoding.")
    var promptTokens = 128

    @Option(name: .long, help: "New tokens per sequence.")
    var newTokens = 128

    @Option(name: .long, parsing: .upToNextOption, help: "Numbers of sequences decoding together.")
    var sequences: [Int] = [1, 8, 32]

    @Option(name: .long, help: "Adapters registered for the memory figures (0 skips them).")
    var adapters = 1000

    @Option(name: .long, help: "Sequences of the mixed-adapter decode figures (0 skips them).")
    var mixedSequences = 32

    @Option(name: .long, help: "Rounds of the mixed-adapter figures (medians).")
    var rounds = 3

    @Option(name: .long, help: "KV cache of the engine figures, in bytes.")
    var kvCacheBytes = 1 << 30

    @Option(name: .long, help: "Tokens per engine step (prefill chunks and decodes together).")
    var tokenBudget = Engine.Configuration().tokenBudget

    @Flag(name: .long, help: "Measure training instead (LoRA and DoRA r16 on every linear projection, prompt tuning; batches of 8 x 256 tokens).")
    var train = false

    @Option(name: .long, help: "Measured optimizer steps of --train.")
    var trainSteps = 3

    @Option(name: .long, help: "What --train measures: a comma list of lora, dora, prompt, dpo.")
    var trainKinds = "lora,dora,prompt,dpo"

    @Option(name: .long, help: "Forward products with the base in --train: auto, int16 or fp32 (as tessera train --precision).")
    var trainPrecision = "auto"

    @Flag(name: .long, help: "Measure tokenizing a 1 MB text instead, beside llama.cpp's llama-tokenize.")
    var tokenizer = false

    @Option(name: .long, help: "GGUF files whose tokenizers --tokenizer measures (default: --model and the vocab suite's Llama 3, Qwen 2, Llama 2, Gemma 4 files and Gemma 3).")
    var vocabulary: [String] = []

    @Option(name: .long, help: "The text --tokenizer tokenizes (default: a generated 1 MB mixed text).")
    var tokenizerText: String?

    @Option(name: .long, help: "llama.cpp's llama-tokenize (default: .bench/llama-avx2/llama-tokenize, from tools/bench/setup-llama).")
    var llamaTokenize: String?

    func run() async throws {
        if tokenizer {
            let files = vocabulary.isEmpty
                ? [model.path] + ["llama-bpe", "qwen2", "llama-spm", "gemma-4"].map { "models/vocab/ggml-vocab-\($0).gguf" }
                    + ["models/gemma-3-270m-it-Q4_K_M.gguf"]
                : vocabulary
            let llama = llamaTokenize ?? ".bench/llama-avx2/llama-tokenize"
            try TokenizerBench(vocabularies: files, textPath: tokenizerText,
                               llamaTokenize: FileManager.default.isExecutableFile(atPath: llama) ? llama : nil).run(json: json)
            return
        }
        if train {
            let kinds = try trainKinds.split(separator: ",").map { name in
                guard let k = TrainBench.Kind(rawValue: String(name)) else {
                    throw ValidationError("--train-kinds: '\(name)' is not one of lora, dora, prompt, dpo, distill")
                }
                return k
            }
            guard let precision = trainPrecision == "auto" ? TrainingPrecision.auto : TrainingPrecision(rawValue: trainPrecision) else {
                throw ValidationError("--train-precision must be auto, int16 or fp32")
            }
            try TrainBench(model: model, batch: 8, length: 256, steps: trainSteps, kinds: kinds, precision: precision).run(json: json)
            return
        }
        let (lm, tokenizer) = try loadModel(model)
        let vocab = lm.config.vocab
        /// Deterministic, varied token ids (not all the same token, so attention sees different keys).
        func prompt(_ n: Int, salt: Int) -> [Int32] { (0..<n).map { Int32((1000 + 37 * $0 + 101 * salt) % (vocab - 100) + 50) } }

        func prefillRate() throws -> Double {
            let tokens = prompt(prefillTokens, salt: 0)
            let cache = lm.makeCache(capacity: prefillTokens, type: model.kvCacheDtype)
            let t = Date()
            _ = try lm.forward(tokens: tokens, cache: cache, outputs: [prefillTokens - 1])
            return Double(prefillTokens) / Date().timeIntervalSince(t)
        }

        var kvBytes = 0
        /// Aggregate decode tokens/s of n sequences, sequence s with adapters[s] (none when empty).
        func decodeRate(_ n: Int, steps: Int, adapters: [[AppliedAdapter]] = []) throws -> Double {
            let applied = adapters.isEmpty ? Array(repeating: [], count: n) : adapters
            let caches = (0..<n).map { lm.makeCache(capacity: promptTokens + steps + applied[$0].reduce(0) { $0 + $1.weights.positions }, type: model.kvCacheDtype) }
            kvBytes = max(kvBytes, caches.reduce(0) { $0 + $1.pool.bytes })
            var next = [Int32](repeating: 0, count: n)
            for (s, cache) in caches.enumerated() {
                let logits = try lm.forward(tokens: prompt(promptTokens, salt: s), cache: cache, outputs: [promptTokens - 1], adapters: applied[s])
                next[s] = Sampler.argmax(logits[...])
            }
            var logits: [Float] = []
            let t = Date()
            for _ in 0..<steps {
                try lm.forward((0..<n).map {
                    SequenceInput(tokens: [next[$0]], cache: caches[$0], outputs: [0], adapters: applied[$0])
                }, logits: &logits)
                for s in 0..<n { next[s] = Sampler.argmax(logits[(s * vocab)..<((s + 1) * vocab)]) }
            }
            return Double(n * steps) / Date().timeIntervalSince(t)
        }

        _ = try prefillRate()  // warm-up: page in the weights, grow scratch buffers
        let prefill = try (0..<3).map { _ in try prefillRate() }.max()!
        var decode: [String: Double] = [:]
        for n in sequences {
            _ = try decodeRate(n, steps: 8)
            decode[String(n)] = try decodeRate(n, steps: newTokens)
        }
        let peakBase = peakRSS()  // before any adapter is made: the figure for the base model and its KV caches

        var engineConfig = Engine.Configuration()
        engineConfig.kvCacheBytes = kvCacheBytes
        engineConfig.kvCacheType = model.kvCacheDtype
        engineConfig.tokenBudget = tokenBudget
        let engine = Engine(model: lm, tokenizer: tokenizer, configuration: engineConfig)
        defer { engine.close() }
        let ttft = try await EngineBench.ttftBehindLongPrompt(engine, prompt: prompt, longTokens: 2000)
        let light = try await EngineBench.lightTenantLatency(engine, prompt: prompt)
        let flood = try await EngineBench.flood(engine, count: 100_000, prompt: prompt(promptTokens, salt: 3))
        var mixed: MixedAdapterRates?
        if mixedSequences > 0 {
            mixed = try await mixedAdapterRates(lm, sequences: mixedSequences, rounds: rounds) { adapters in
                var p = SamplingParameters.greedy(maxTokens: newTokens)
                p.ignoreEOS = true
                let requests = adapters.enumerated().map { s, applied in
                    EngineRequest(prompt: prompt(promptTokens, salt: s), parameters: p, tenant: "t\(s % 4)", adapters: applied,
                                  adapterKey: applied.isEmpty ? nil : applied.map { "\(ObjectIdentifier($0.weights).hashValue)" }.joined(separator: "+"))
                }
                return try await EngineBench.decodeRate(engine, requests)
            }
        }
        let adapterFigures = adapters > 0 ? try await AdapterBench.run(model: lm, registered: adapters) : nil
        let c = lm.config
        let bytesPerPosition = KVBlockPool.bytesPerBlock(layers: c.layers, width: c.kvHeads * c.headDim, blockTokens: 1,
                                                         type: model.kvCacheDtype)
        let sequencesPerGiB = (1 << 30) / (bytesPerPosition * (promptTokens + newTokens))
        let result = BenchResult(
            prefill_tokens_per_s: prefill, decode_tokens_per_s: decode, peak_rss_bytes: peakBase,
            peak_rss_with_adapters_bytes: peakRSS(),
            base_bytes: lm.weightBytes, kv_cache_bytes: kvBytes, kv_cache_type: model.kvCacheDtype.description,
            sequences_per_gib_of_kv_cache: sequencesPerGiB, mixed_adapter_decode_tokens_per_s: mixed,
            ttft_behind_long_prompt_ms: ttft, light_tenant_latency: light, flood: flood, engine_kv_cache_bytes: engine.pool.bytes,
            adapters: adapterFigures,
            cpu: CPULevel.selected.description, activations: ActivationPrecision.selected.description,
            threads: ComputePool.shared.threads)
        if json {
            let e = JSONEncoder()
            e.outputFormatting = [.sortedKeys]
            print(String(decoding: try e.encode(result), as: UTF8.self))
        } else {
            print(String(format: "prefill (%d tokens): %.1f tok/s", prefillTokens, prefill))
            for n in sequences { print(String(format: "decode, %d sequences: %.1f tok/s", n, decode[String(n)]!)) }
            print("peak RSS: \(result.peak_rss_bytes / 1_048_576) MiB (base weights \(result.base_bytes / 1_048_576) MiB, largest KV cache \(kvBytes / 1_048_576) MiB), cpu: \(result.cpu), activations: \(result.activations), threads: \(result.threads)")
            print("KV cache: \(result.kv_cache_type), \(sequencesPerGiB) sequences of \(promptTokens + newTokens) positions per GiB")
            print(String(format: "time to first token behind a 2000-token prompt: %.0f ms", ttft))
            print(String(format: "light tenant's requests: %.0f ms alone, %.0f ms beside a flood", light.alone_ms, light.beside_flood_ms))
            print("flood: \(flood.refused) of \(flood.submitted) requests refused; peak RSS \(flood.peak_rss_before_bytes / 1_048_576) -> \(flood.peak_rss_after_bytes / 1_048_576) MiB")
            if let m = mixed {
                print(String(format: "decode, %d sequences: base %.1f, shared LoRA %.1f, distinct r8 q/v LoRAs %.1f, distinct r16 all-linear LoRAs %.1f, mixed kinds %.1f tok/s",
                             mixedSequences, m.base, m.shared_lora, m.distinct_lora_r8_qv, m.distinct_lora_r16_all, m.mixed_kinds))
            }
            if let a = adapterFigures {
                print("adapters: \(a.registered) registered (\(a.store_bytes / 1024) KiB on disk) grew RSS by \(a.rss_growth_registering_bytes / 1024) KiB; \(a.cached) cached hold \(a.cache_resident_bytes / 1024) KiB (RSS +\(a.rss_growth_caching_bytes / 1024) KiB); a rank-16 all-linear LoRA (\(a.r16_all_linear_bytes / 1_048_576) MiB) loads cold in \(String(format: "%.1f", a.r16_all_linear_cold_load_ms)) ms (first load, into fresh memory: \(String(format: "%.1f", a.r16_all_linear_first_load_ms)) ms)")
            }
        }
    }
}

struct BenchResult: Codable {
    let prefill_tokens_per_s: Double
    let decode_tokens_per_s: [String: Double]
    /// Peak RSS of the base-model runs (prefill and decode).
    let peak_rss_bytes: Int
    /// Peak RSS at the end, after the adapter figures (32 random adapters of each scenario in RAM at once).
    let peak_rss_with_adapters_bytes: Int
    let base_bytes: Int
    let kv_cache_bytes: Int
    /// How the KV cache stores keys and values (`--kv-cache-dtype`).
    let kv_cache_type: String
    /// Sequences of the decode figures' length (prompt + new tokens) whose keys and values fit in 1 GiB of cache.
    let sequences_per_gib_of_kv_cache: Int
    /// Through the engine, like every figure below it.
    let mixed_adapter_decode_tokens_per_s: MixedAdapterRates?
    /// A 16-token request arriving while a 2,000-token prompt is being prefilled: time to its first token.
    let ttft_behind_long_prompt_ms: Double
    /// Two tenants at 1:1, one flooding: the other's request latency alone and beside the flood.
    let light_tenant_latency: LightTenantFigures
    let flood: FloodFigures
    let engine_kv_cache_bytes: Int
    let adapters: AdapterBench?
    let cpu: String
    let activations: String
    let threads: Int
}

/// Aggregate decode rates of sequences that each bring their own adapter (Punica's scenarios; llama.cpp cannot batch
/// requests with different LoRAs at all).
struct MixedAdapterRates: Codable {
    let base: Double
    let shared_lora: Double
    let distinct_lora_r8_qv: Double
    let distinct_lora_r16_all: Double
    let mixed_kinds: Double
}

func mixedAdapterRates(
    _ lm: any LanguageModel, sequences n: Int, rounds: Int, decodeRate: ([[AppliedAdapter]]) async throws -> Double
) async throws -> MixedAdapterRates {
    var random = RandomAdapters(config: lm.config)
    let shared = random.lora(rank: 8, [.q, .v])
    let r8 = (0..<n).map { _ in random.lora(rank: 8, [.q, .v]) }
    let r16 = (0..<n).map { _ in random.lora(rank: 16, Projection.allCases) }
    // LoRA, DoRA, prompt tuning, P-tuning (the same to the model: virtual tokens), prefix tuning, in turn.
    let kinds: [AdapterWeights] = (0..<n).map { s in
        switch s % 5 {
        case 0: random.lora(rank: 8, [.q, .v])
        case 1: random.lora(rank: 8, [.q, .k, .v, .o], dora: true)
        case 2, 3: random.prompt(tokens: 8)
        default: random.prefix(entries: 8)
        }
    }
    func each(_ w: [AdapterWeights]) -> [[AppliedAdapter]] { w.map { [AppliedAdapter($0)] } }
    let base = Array(repeating: [AppliedAdapter](), count: n)
    let scenarios = [base, Array(repeating: [AppliedAdapter(shared)], count: n), each(r8), each(r16), each(kinds)]
    _ = try await decodeRate(base)  // warm-up
    // Rounds over all scenarios in turn, medians: the host's speed drifts, so each scenario sees the same drift.
    var rates = Array(repeating: [Double](), count: scenarios.count)
    for _ in 0..<rounds {
        for (k, s) in scenarios.enumerated() { rates[k].append(try await decodeRate(s)) }
    }
    let m = rates.map { $0.sorted()[$0.count / 2] }
    return MixedAdapterRates(base: m[0], shared_lora: m[1], distinct_lora_r8_qv: m[2], distinct_lora_r16_all: m[3], mixed_kinds: m[4])
}

/// Peak resident set size of this process (getrusage reports KiB on Linux).
func peakRSS() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Int(usage.ru_maxrss) * 1024
}
