import Foundation
import Synchronization
import Testing
import TesseraEngine
import TesseraModel
import TesseraTestSupport
import TesseraTokenizer

@Suite struct EngineTests {
    static let model = try! ModelRegistry.load(TestModel.gguf)
    static let tokenizer = try! Tokenizer(gguf: TestModel.gguf)

    struct Output: Equatable {
        var tokens: [Int32] = []
        var text = ""
        var completion: Completion?
        var failure: String?
        var logprobs: [GeneratedToken] = []
        var prompt: [PromptToken] = []
    }

    static func collect(_ stream: AsyncStream<EngineEvent>) async -> Output {
        var out = Output()
        for await event in stream {
            switch event {
            case .prompt(let p):
                out.prompt += p
            case .token(let t):
                out.tokens.append(t.id)
                out.text += t.text
                out.logprobs.append(t)
            case .finished(let c):
                out.text += c.text
                out.completion = c
            case .failed(let e):
                out.failure = e.message
            }
        }
        return out
    }

    /// Requests of every adapter kind, prompt length and sampling setting, all different.
    static func mixedRequests() -> [EngineRequest] {
        var random = RandomAdapters(config: model.config, seed: 5)
        let shared = random.lora(rank: 8, [.q, .v])
        let adapters: [(String?, [AppliedAdapter])] = [
            (nil, []),
            ("shared", [AppliedAdapter(shared)]),
            ("shared", [AppliedAdapter(shared, scale: 0.5)]),
            ("r16", [AppliedAdapter(random.lora(rank: 16, Projection.allCases))]),
            ("dora", [AppliedAdapter(random.lora(rank: 4, [.q, .k, .v, .o], dora: true))]),
            ("prompt", [AppliedAdapter(random.prompt(tokens: 7))]),
            ("prefix", [AppliedAdapter(random.prefix(entries: 5))]),
            ("both", [AppliedAdapter(shared), AppliedAdapter(random.lora(rank: 2, [.down]), scale: 2)]),
        ]
        let texts = [
            "The capital of France is", "Once upon a time, in a land far away, there lived a",
            "def fibonacci(n):", "List three colors:", "1, 2, 3, 4,",
            "Water boils at a temperature of one hundred degrees Celsius at sea level, which is why",
        ]
        var requests: [EngineRequest] = []
        for i in 0..<12 {
            var p = SamplingParameters.greedy(maxTokens: 6 + (i * 5) % 17)
            if i % 4 == 3 {  // seeded sampling
                p.temperature = 0.9
                p.topP = 0.95
                p.seed = UInt64(i)
            }
            if i == 5 { p.stop = [" the"] }
            let (key, applied) = adapters[i % adapters.count]
            requests.append(EngineRequest(prompt: tokenizer.encode(texts[i % texts.count]), parameters: p,
                                          tenant: "t\(i % 3)", adapters: applied, adapterKey: key))
        }
        return requests
    }

    /// The one-sequence loop (no batching, no chunking) is the reference for the engine.
    static func alone(_ r: EngineRequest) throws -> (tokens: [Int32], text: String) {
        let g = try Generator(model: model, tokenizer: tokenizer).generate(prompt: r.prompt, parameters: r.parameters, adapters: r.adapters)
        return (g.tokens, g.text)
    }

    static func engine(model: any LanguageModel = model, _ configure: (inout Engine.Configuration) -> Void = { _ in }) -> Engine {
        var c = Engine.Configuration()
        c.kvCacheBytes = 64 << 20
        configure(&c)
        return Engine(model: model, tokenizer: tokenizer, configuration: c)
    }

    @Test func outputIsTheSameAloneAndInAMixedBatch() async throws {
        let requests = Self.mixedRequests()
        // A small budget chunks the prompts, so prefill chunks and decodes of all kinds share steps.
        let engine = Self.engine { $0.tokenBudget = 24 }
        defer { engine.close() }
        let streams = try requests.map { try engine.submit($0) }
        var outputs: [Output] = []
        for s in streams { outputs.append(await Self.collect(s)) }
        for (i, r) in requests.enumerated() {
            let expected = try Self.alone(r)
            #expect(outputs[i].tokens == expected.tokens, "request \(i)")
            #expect(outputs[i].text == expected.text, "request \(i)")
            #expect(outputs[i].completion?.promptTokens == r.prompt.count)
        }
        #expect(outputs[5].completion?.reason == .stop && !outputs[5].text.contains(" the"), "stop string")
        #expect(engine.stats.steps > 0 && engine.pool.usage == 0, "every block is back")
    }

    /// A pool too small for everyone at once: sequences are preempted, recomputed, and still produce the same tokens.
    @Test func preemptedSequencesResumeWithTheSameOutput() async throws {
        var requests = Self.mixedRequests()
        for i in requests.indices { requests[i].parameters.maxTokens = 24 }
        let engine = Self.engine {
            $0.blockTokens = 4
            $0.kvCacheBytes = 40 * KVBlockPool.bytesPerBlock(layers: 30, width: 192, blockTokens: 4)
        }
        defer { engine.close() }
        let streams = try requests.map { try engine.submit($0) }
        var outputs: [Output] = []
        for s in streams { outputs.append(await Self.collect(s)) }
        #expect(engine.stats.preemptions > 0)
        for (i, r) in requests.enumerated() {
            #expect(outputs[i].tokens == (try Self.alone(r)).tokens, "request \(i)")
        }
        #expect(engine.pool.usage == 0)
    }

    @Test func logprobsAreThoseOfTheModel() async throws {
        let prompt = Self.tokenizer.encode("The capital of France is")
        let engine = Self.engine()
        defer { engine.close() }
        let out = await Self.collect(try engine.submit(EngineRequest(prompt: prompt, parameters: .greedy(maxTokens: 3), logprobs: 5)))
        let logits = try Self.model.forward(tokens: prompt, cache: Self.model.makeCache(capacity: 8), outputs: [prompt.count - 1])
        let m = Double(logits.max()!)
        let logZ = m + log(logits.reduce(0.0) { $0 + exp(Double($1) - m) })
        let first = out.logprobs[0]
        #expect(first.topLogprobs.count == 5 && first.topLogprobs[0].id == first.id)
        #expect(abs(Double(first.logprob!) - (Double(logits[Int(first.id)]) - logZ)) < 1e-5)
        #expect(zip(first.topLogprobs, first.topLogprobs.dropFirst()).allSatisfy { $0.logprob >= $1.logprob })
    }

    /// Prompt logprobs come in chunks (budget 8 here) and still match scoring the whole text at once.
    @Test func promptLogprobsMatchScoring() async throws {
        let prompt = Self.tokenizer.encode("The quick brown fox jumps over the lazy dog, and then it runs away into the woods.")
        let engine = Self.engine { $0.tokenBudget = 8 }
        defer { engine.close() }
        var r = EngineRequest(prompt: prompt, parameters: .greedy(maxTokens: 2), logprobs: 1)
        r.promptLogprobs = true
        let out = await Self.collect(try engine.submit(r))
        let expected = try Scoring.logprobs(model: Self.model, tokens: prompt)
        #expect(out.prompt.map(\.id) == prompt && out.prompt[0].logprob == nil)
        for (i, p) in out.prompt.enumerated().dropFirst() {
            #expect(abs(Double(p.logprob!) - Double(expected[i - 1])) < 1e-4, "token \(i)")
            #expect(p.topLogprobs.count == 1)
        }
        #expect(out.tokens.count == 2)
    }

    @Test func cancellingFreesTheSequence() async throws {
        // Three passes (prefill, two decodes), then the engine is held: the request is certainly still running when
        // its reader goes away, however slow or fast the machine is.
        let gated = GatedModel(Self.model, allowing: 3)
        let engine = Self.engine(model: gated)
        defer { gated.open(); engine.close() }
        var p = SamplingParameters.greedy(maxTokens: 1200)
        p.ignoreEOS = true
        let stream = try engine.submit(EngineRequest(prompt: Self.tokenizer.encode("Count to a thousand:"), parameters: p))
        let seen = Atomic<Int>(0)
        let reader = Task {
            var n = 0
            for await _ in stream {
                n += 1
                seen.store(n, ordering: .relaxed)
            }
            return n
        }
        #expect(await Self.eventually { seen.load(ordering: .relaxed) == 3 })
        #expect(engine.stats.running == 1)
        reader.cancel()
        #expect(await reader.value == 3)
        #expect(await Self.eventually { engine.stats.running == 0 })
        gated.open()  // the held pass still holds the cache's blocks
        #expect(await Self.eventually { engine.pool.usage == 0 })
        // Dropping the stream of a request that has not finished frees it too.
        var dropped: AsyncStream<EngineEvent>? = try engine.submit(EngineRequest(prompt: [1, 2, 3], parameters: p))
        #expect(dropped != nil)
        dropped = nil
        #expect(await Self.eventually { engine.stats.running + engine.stats.waiting == 0 && engine.pool.usage == 0 })
    }

    /// Polls until `condition` holds (true) or 180 s pass (false), without holding a thread of the cooperative pool
    /// (2 on this machine), which the tasks under test need. What it waits for is certain to happen (the tests gate
    /// the engine); the deadline only turns a bug into a failure instead of a hang.
    static func eventually(_ condition: () -> Bool) async -> Bool {
        // The suites all start at once on 2 cores: with fp32 activations, a test's first passes have waited over
        // 30 s behind the others' (a CI run failed on a 30 s bound).
        let deadline = ContinuousClock.now + .seconds(180)
        while !condition() {
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(1))
        }
        return true
    }

    @Test func refusalsAreTyped() async throws {
        // One pass, then the engine is held: the first request stays running while the others queue.
        let gated = GatedModel(Self.model, allowing: 1)
        let engine = Self.engine(model: gated) {
            $0.maxSequencesPerStep = 1
            $0.maxWaiting = 2
        }
        defer { gated.open(); engine.close() }
        func kind(_ r: EngineRequest) -> EngineError.Kind? {
            do { _ = try engine.submit(r) } catch { return error.kind }
            return nil
        }
        let context = Self.model.config.contextLength
        #expect(kind(EngineRequest(prompt: [], parameters: .greedy(maxTokens: 1))) == .invalid)
        #expect(kind(EngineRequest(prompt: [49152], parameters: .greedy(maxTokens: 1))) == .invalid)
        #expect(kind(EngineRequest(prompt: Array(repeating: 1, count: context), parameters: .greedy(maxTokens: 1))) == .invalid)
        #expect(kind(EngineRequest(prompt: [1], parameters: .greedy(maxTokens: 1), logprobs: 21)) == .invalid)
        var big = SamplingParameters.greedy(maxTokens: context - 10)
        big.ignoreEOS = true
        #expect(kind(EngineRequest(prompt: [1], parameters: big)) == .tooLarge, "64 MiB hold fewer positions than the context")
        // One runs (one sequence per step), two wait, the fourth is refused rather than buffered.
        var long = SamplingParameters.greedy(maxTokens: 100)
        long.ignoreEOS = true
        let running = try engine.submit(EngineRequest(prompt: [1, 2], parameters: long))
        #expect(await Self.eventually { gated.passes == 1 })
        #expect(engine.stats.running == 1)
        let waiting = try (0..<2).map { _ in try engine.submit(EngineRequest(prompt: [1, 2], parameters: long)) }
        #expect(kind(EngineRequest(prompt: [1, 2], parameters: long)) == .queueFull)
        engine.stopAccepting()
        #expect(kind(EngineRequest(prompt: [1, 2], parameters: long)) == .shuttingDown)
        withExtendedLifetime((running, waiting)) {}
    }
}
