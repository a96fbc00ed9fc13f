import ArgumentParser
import Foundation
import TesseraEngine
import TesseraKernels
import TesseraModel

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

    func run() async throws {
        let (lm, _) = try loadModel(model)
        let vocab = lm.config.vocab
        /// Deterministic, varied token ids (not all the same token, so attention sees different keys).
        func prompt(_ n: Int, salt: Int) -> [Int32] { (0..<n).map { Int32((1000 + 37 * $0 + 101 * salt) % (vocab - 100) + 50) } }

        func prefillRate() throws -> Double {
            let tokens = prompt(prefillTokens, salt: 0)
            let cache = lm.makeCache(capacity: prefillTokens)
            let t = Date()
            _ = try lm.forward(tokens: tokens, cache: cache, outputs: [prefillTokens - 1])
            return Double(prefillTokens) / Date().timeIntervalSince(t)
        }

        var kvBytes = 0
        func decodeRate(_ n: Int, steps: Int) throws -> Double {
            let caches = (0..<n).map { _ in lm.makeCache(capacity: promptTokens + steps) }
            kvBytes = max(kvBytes, caches.reduce(0) { $0 + $1.bytes })
            var next = [Int32](repeating: 0, count: n)
            for (s, cache) in caches.enumerated() {
                let logits = try lm.forward(tokens: prompt(promptTokens, salt: s), cache: cache, outputs: [promptTokens - 1])
                next[s] = Sampler.argmax(logits[...])
            }
            let t = Date()
            for _ in 0..<steps {
                let logits = try lm.forward((0..<n).map { SequenceInput(tokens: [next[$0]], cache: caches[$0], outputs: [0]) })
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
        let adapterFigures = adapters > 0 ? try await AdapterBench.run(model: lm, registered: adapters) : nil
        let result = BenchResult(
            prefill_tokens_per_s: prefill, decode_tokens_per_s: decode, peak_rss_bytes: peakRSS(),
            base_bytes: lm.weightBytes, kv_cache_bytes: kvBytes, adapters: adapterFigures,
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
            if let a = adapterFigures {
                print("adapters: \(a.registered) registered (\(a.store_bytes / 1024) KiB on disk) grew RSS by \(a.rss_growth_registering_bytes / 1024) KiB; \(a.cached) cached hold \(a.cache_resident_bytes / 1024) KiB (RSS +\(a.rss_growth_caching_bytes / 1024) KiB); a rank-16 all-linear LoRA (\(a.r16_all_linear_bytes / 1_048_576) MiB) loads cold in \(String(format: "%.1f", a.r16_all_linear_cold_load_ms)) ms (first load, into fresh memory: \(String(format: "%.1f", a.r16_all_linear_first_load_ms)) ms)")
            }
        }
    }
}

struct BenchResult: Codable {
    let prefill_tokens_per_s: Double
    let decode_tokens_per_s: [String: Double]
    let peak_rss_bytes: Int
    let base_bytes: Int
    let kv_cache_bytes: Int
    let adapters: AdapterBench?
    let cpu: String
    let activations: String
    let threads: Int
}

/// Peak resident set size of this process (getrusage reports KiB on Linux).
func peakRSS() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Int(usage.ru_maxrss) * 1024
}
