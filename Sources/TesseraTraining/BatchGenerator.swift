import Dispatch
import Synchronization
import TesseraEngine
import TesseraModel
import TesseraTokenizer

/// Generation for the methods that sample (prompt-only distillation data, on-policy distillation, RLHF's rollouts,
/// Constitutional AI), through the serving engine: the prompts are submitted together so they share its batches
/// (DESIGN 1), and the trainer's synchronous loop waits for them all.
public final class BatchGenerator: Sendable {
    public let engine: Engine
    /// The token that closes an answer (the chat template's turn end, `TrainingData.endOfTurn`): kept at the end of a finished answer, as
    /// the training data has it.
    let endOfTurn: Int32

    public init(model: any LanguageModel, tokenizer: Tokenizer, endOfTurn: Int32, kvCacheBytes: Int = 256 << 20) {
        var configuration = Engine.Configuration()
        configuration.kvCacheBytes = kvCacheBytes
        // The trainer's batches are long prefills of many prompts at once; a larger step budget amortizes each
        // pass over the weights across more of them.
        configuration.tokenBudget = 512
        engine = Engine(model: model, tokenizer: tokenizer, configuration: configuration)
        self.endOfTurn = endOfTurn
    }

    deinit { engine.close() }

    /// One generated answer: its tokens (ending in the end-of-turn token when it finished, not when cut at
    /// `maxTokens`) and whether it finished.
    public struct Answer: Sendable, Equatable {
        public var tokens: [Int32]
        public var finished: Bool
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// One set of parameters made per answer: the seed moved by `salt` (a step, a stage) and the answer's index, so no
    /// two answers share a sampler, and max tokens cut so each answer fits within `maxLength` after the `contexts[i]`
    /// tokens it follows (the longest context it joins).
    public static func parameters(_ sampling: SamplingParameters, contexts: [Int], maxLength: Int, salt: Int) -> [SamplingParameters] {
        contexts.enumerated().map { i, context in
            var s = sampling
            s.seed = s.seed.map { $0 &+ UInt64(bitPattern: Int64(salt)) &* 0x9E37_79B9 &+ UInt64(i) }
            s.maxTokens = max(1, min(s.maxTokens, maxLength - context))
            return s
        }
    }

    /// An answer per prompt, in order, sampled with `parameters[i]` (one set for all when it has one element) and the
    /// adapter (nil: the base). At most the engine's queue is in flight at once.
    public func generate(_ prompts: [[Int32]], adapter: AdapterWeights?, parameters: [SamplingParameters]) throws(Failure) -> [Answer] {
        precondition(parameters.count == 1 || parameters.count == prompts.count)
        let results = Results()
        let inFlight = min(engine.configuration.maxWaiting, 128)
        let done = DispatchSemaphore(value: 0)
        let engine = engine, endOfTurn = endOfTurn
        let adapters = adapter.map { [AppliedAdapter($0)] } ?? []
        Task.detached {
            var collected: [Int: Result<Answer, Failure>] = [:]
            await withTaskGroup(of: (Int, Result<Answer, Failure>).self) { group in
                for (i, prompt) in prompts.enumerated() {
                    if i >= inFlight, let (j, r) = await group.next() { collected[j] = r }
                    group.addTask {
                        (i, await Self.one(engine, prompt, parameters[parameters.count == 1 ? 0 : i], adapters, endOfTurn))
                    }
                }
                for await (j, r) in group { collected[j] = r }
            }
            results.value.withLock { $0 = collected }
            done.signal()
        }
        done.wait()
        return try results.value.withLock { r throws(Failure) in
            var out: [Answer] = []
            for i in prompts.indices { out.append(try r[i]!.get()) }
            return out
        }
    }

    private final class Results: Sendable {
        let value = Mutex<[Int: Result<Answer, Failure>]>([:])
    }

    private static func one(_ engine: Engine, _ prompt: [Int32], _ parameters: SamplingParameters, _ adapters: [AppliedAdapter],
                            _ endOfTurn: Int32) async -> Result<Answer, Failure> {
        let stream: AsyncStream<EngineEvent>
        do {
            stream = try engine.submit(EngineRequest(prompt: prompt, parameters: parameters, adapters: adapters,
                                                     adapterKey: adapters.isEmpty ? nil : "training"))
        } catch {
            return .failure(Failure(description: "generation could not start: \(error)"))
        }
        var tokens: [Int32] = []
        for await event in stream {
            switch event {
            case .prompt: continue
            case let .token(t):
                tokens.append(t.id)
                // A model whose EOS is not the end of a turn: the turn's end finishes the answer.
                if t.id == endOfTurn { return .success(Answer(tokens: tokens, finished: true)) }
            case let .finished(c):
                let finished = c.reason == .stop
                return .success(Answer(tokens: finished ? tokens + [endOfTurn] : tokens, finished: finished))
            case let .failed(e):
                return .failure(Failure(description: "generation failed: \(e)"))
            }
        }
        return .failure(Failure(description: "generation ended without finishing"))
    }
}
