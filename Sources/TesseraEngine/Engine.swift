import Foundation
import Synchronization
import TesseraKernels
import TesseraModel
import TesseraTokenizer

/// Continuous batching (DESIGN 3.5-3.7): requests arrive at any time with any adapter; one thread runs the loop, each
/// step being one forward pass over whatever the scheduler picked (prefill chunks and decode tokens of many sequences,
/// any mix of adapters), and streams each sequence's tokens back as they are sampled.
public final class Engine: Sendable {
    public struct Configuration: Sendable {
        /// Bytes of the KV block pool, allocated once.
        public var kvCacheBytes = 256 << 20
        public var kvCacheType = KVCacheType.standard
        public var blockTokens = 16
        /// Tokens per step. A step's length is what a request arriving during a long prompt waits for: 128 tokens
        /// keep that near half a second on 2 cores (measured: 2,000-token prompt ahead, first token after ~0.5 s;
        /// ~1 s at 256) at no measurable cost in prefill speed, and leave room for prefill beside 64 decodes.
        public var tokenBudget = 128
        public var maxSequencesPerStep = 64
        /// Distinct adapters (or adapter sets) per step; every sequence of a step may have its own by default.
        public var maxAdaptersPerStep = 64
        public var maxWaiting = 256

        public init() {}
    }

    /// A snapshot for metrics and health (DESIGN 3.11).
    public struct Stats: Sendable, Equatable {
        public var waiting: Int
        public var running: Int
        public var kvCacheUsage: Double
        public var runningAdapters: Set<String>
        public var waitingAdapters: Set<String>
        public var steps: Int
        /// Sequences preempted so far (their KV dropped, to be recomputed).
        public var preemptions: Int
    }

    public let model: any LanguageModel
    public let tokenizer: Tokenizer
    public let pool: KVBlockPool
    public let configuration: Configuration
    private let state: Mutex<State>
    /// Signalled when there may be work; the loop waits on it when idle.
    private let wake = DispatchSemaphore(value: 0)
    /// When the loop last went round (uptime nanoseconds): it wakes at least every second, busy or idle, so a loop
    /// stuck in a step (or dead) shows as a stale beat (systemd's watchdog reads it).
    private let beat = Atomic<UInt64>(DispatchTime.now().uptimeNanoseconds)
    private let exited = DispatchSemaphore(value: 0)

    private struct State: @unchecked Sendable {  // only touched under the mutex
        var scheduler: Scheduler
        var sequences: [Int: SequenceState] = [:]
        var nextID = 1
        var accepting = true
        var closed = false
        var steps = 0
        var preemptions = 0
    }

    public init(model: any LanguageModel, tokenizer: Tokenizer, configuration: Configuration = .init()) {
        self.model = model
        self.tokenizer = tokenizer
        self.configuration = configuration
        pool = model.makeBlockPool(bytes: configuration.kvCacheBytes, blockTokens: configuration.blockTokens,
                                   type: configuration.kvCacheType)
        let limits = Scheduler.Limits(
            tokenBudget: configuration.tokenBudget, maxSequencesPerStep: configuration.maxSequencesPerStep,
            maxAdaptersPerStep: configuration.maxAdaptersPerStep, maxWaiting: configuration.maxWaiting,
            blockTokens: configuration.blockTokens, totalBlocks: pool.totalBlocks)
        state = Mutex(State(scheduler: Scheduler(limits: limits)))
        let thread = Thread { [self] in loop() }
        thread.name = "tessera-engine"
        thread.start()
    }

    /// Queues a request; its tokens and its end arrive on the stream. Dropping the stream (or cancelling the task
    /// reading it) cancels the request, which frees its blocks before the next step.
    public func submit(_ request: EngineRequest) throws(EngineError) -> AsyncStream<EngineEvent> {
        let context = model.config.contextLength
        do { try request.parameters.validate() } catch { throw EngineError(.invalid, error.message) }
        guard !request.prompt.isEmpty else { throw EngineError(.invalid, "the prompt is empty") }
        if let bad = request.prompt.first(where: { $0 < 0 || Int($0) >= model.config.vocab }) {
            throw EngineError(.invalid, "token id \(bad) is outside the vocabulary of \(model.config.vocab)")
        }
        guard request.tenantWeight.isFinite, request.tenantWeight > 0 else {
            throw EngineError(.invalid, "tenant weight must be positive, got \(request.tenantWeight)")
        }
        guard (0...20).contains(request.logprobs ?? 0) else {
            throw EngineError(.invalid, "logprobs must be between 0 and 20, got \(request.logprobs!)")
        }
        do { try model.check(adapters: request.adapters) } catch { throw EngineError(.invalid, error.message) }
        let positions = request.adapterPositions + request.prompt.count
        guard positions < context else {
            throw EngineError(.invalid, "the prompt has \(request.prompt.count) tokens (and the adapter \(request.adapterPositions) positions); the context holds \(context)")
        }
        guard request.adapterPositions < configuration.tokenBudget else {
            throw EngineError(.invalid, "the adapter takes \(request.adapterPositions) positions; a step computes at most \(configuration.tokenBudget)")
        }
        // max_tokens 0 with prompt logprobs scores the prompt: the pass runs and its one sampled token is dropped.
        let scoreOnly = request.parameters.maxTokens == 0 && request.promptLogprobs && request.prompt.count > 1
        let maxNew = scoreOnly ? 1 : min(request.parameters.maxTokens, context - positions)
        let (stream, continuation) = AsyncStream.makeStream(of: EngineEvent.self)
        guard maxNew > 0 else {
            continuation.yield(.finished(Completion(reason: .length, text: "", promptTokens: request.prompt.count, completionTokens: 0)))
            continuation.finish()
            return stream
        }
        let id = try state.withLock { s throws(EngineError) -> Int in
            guard s.accepting else { throw EngineError(.shuttingDown, "the server is shutting down") }
            s.scheduler.setWeight(request.tenantWeight, tenant: request.tenant)
            let id = s.nextID
            let admission = s.scheduler.submit(Scheduler.Request(
                id: id, tenant: request.tenant, adapter: request.adapterKey, promptPositions: positions,
                maxNewTokens: maxNew, minFirstChunk: request.adapterPositions + 1))
            switch admission {
            case .queued: break
            case .queueFull:
                throw EngineError(.queueFull, "too many requests are waiting (\(s.scheduler.limits.maxWaiting)); retry later")
            case .tooLarge(let blocks):
                throw EngineError(.tooLarge, "the request needs \(blocks) KV cache blocks of \(s.scheduler.limits.blockTokens) positions; the cache has \(s.scheduler.limits.totalBlocks)")
            }
            s.nextID += 1
            s.sequences[id] = SequenceState(request: request, tokenizer: tokenizer, continuation: continuation, scoreOnly: scoreOnly)
            return id
        }
        continuation.onTermination = { [weak self] _ in self?.cancel(id) }
        wake.signal()
        return stream
    }

    /// Drops a request in whatever state it is; its stream ends without a finish event.
    private func cancel(_ id: Int) {
        let removed = state.withLock { s in
            s.scheduler.cancel(id)
            return s.sequences.removeValue(forKey: id)
        }
        removed?.continuation.finish()
    }

    public var stats: Stats {
        state.withLock { s in
            let adapters = s.scheduler.adapters
            return Stats(waiting: s.scheduler.waitingCount, running: s.scheduler.runningCount, kvCacheUsage: pool.usage,
                         runningAdapters: adapters.running, waitingAdapters: adapters.waiting, steps: s.steps,
                         preemptions: s.preemptions)
        }
    }

    /// Refuses new requests from now on; those accepted run to their end.
    public func stopAccepting() {
        state.withLock { $0.accepting = false }
    }

    public var isAccepting: Bool { state.withLock { $0.accepting } }

    /// Nothing running or waiting.
    public var isIdle: Bool { state.withLock { $0.scheduler.isIdle } }

    /// Stops accepting, ends what is left with a `shuttingDown` failure and ends the engine thread (waiting for its
    /// current step).
    public func close() {
        let left = state.withLock { s in
            s.accepting = false
            s.closed = true
            for id in s.sequences.keys { s.scheduler.cancel(id) }
            defer { s.sequences.removeAll() }
            return Array(s.sequences.values)
        }
        for l in left {
            l.continuation.yield(.failed(EngineError(.shuttingDown, "the server shut down before this request finished")))
            l.continuation.finish()
        }
        wake.signal()
        exited.wait()
    }

    // MARK: - The loop (engine thread)

    private struct Planned {
        var step: Scheduler.Step
        var inputs: [SequenceInput] = []
        /// What each row of logits is for, in order: sampling a sequence's next token, or the logprob of one of its
        /// prompt tokens.
        var rows: [(id: Int, promptToken: Int?)] = []
    }

    /// Seconds since the engine loop last went round.
    public var secondsSinceLoopBeat: Double {
        Double(DispatchTime.now().uptimeNanoseconds &- beat.load(ordering: .relaxed)) / 1e9
    }

    private func loop() {
        var logits: [Float] = []  // one array for every pass: its pages stay mapped (LanguageModel.forward)
        while true {
            beat.store(DispatchTime.now().uptimeNanoseconds, ordering: .relaxed)
            let planned = state.withLock { s -> Planned? in
                if s.scheduler.isIdle { return nil }
                s.steps += 1
                return plan(&s)
            }
            guard let planned else {
                if state.withLock({ $0.closed }) {
                    exited.signal()
                    return
                }
                _ = wake.wait(timeout: .now() + 1)
                continue
            }
            let result = Result { () throws(ModelError) in
                try model.forward(planned.inputs, logits: &logits)
                return logits
            }
            deliver(finish(planned, result))
        }
    }

    /// Turns the scheduler's step into model inputs (under the lock).
    private func plan(_ s: inout State) -> Planned {
        var p = Planned(step: s.scheduler.nextStep())
        for id in p.step.preempted { s.sequences[id]?.cache = nil }  // its blocks go back; it starts over later
        s.preemptions += p.step.preempted.count
        for work in p.step.work {
            guard var seq = s.sequences[work.id] else { continue }
            switch work {
            case .prefill(let id, let start, let count, let samples):
                if start == 0 || seq.cache == nil {
                    seq.cache = KVCache(pool: pool, capacity: model.config.contextLength)
                    s.sequences[id] = seq
                }
                let tokens = Array(seq.chunk(start: start, count: count))
                var outputs: [Int] = []
                if seq.request.promptLogprobs {
                    // Row j predicts token first + j + 1: a prompt token's logprob, unless already sent.
                    let first = max(start, seq.request.adapterPositions) - seq.request.adapterPositions
                    for j in tokens.indices where first + j + 1 < seq.request.prompt.count && first + j + 1 >= seq.promptLogprobsSent {
                        outputs.append(j)
                        p.rows.append((id, first + j + 1))
                    }
                }
                if samples {
                    outputs.append(tokens.count - 1)
                    p.rows.append((id, nil))
                }
                p.inputs.append(SequenceInput(tokens: tokens, cache: seq.cache!, outputs: outputs, adapters: seq.request.adapters))
            case .decode(let id):
                p.inputs.append(SequenceInput(tokens: [seq.tokens.last!], cache: seq.cache!, outputs: [0],
                                              adapters: seq.request.adapters))
                p.rows.append((id, nil))
            }
        }
        return p
    }

    private typealias Delivery = (AsyncStream<EngineEvent>.Continuation, [EngineEvent], end: Bool)

    /// Samples every sequence that got logits and ends those that are done (under the lock).
    private func finish(_ p: Planned, _ result: Result<[Float], ModelError>) -> [Delivery] {
        let vocab = model.config.vocab
        return state.withLock { s in
            var out: [Delivery] = []
            guard case .success(let logits) = result else {
                // Nothing the engine admits should fail here; if it does, the step's requests end with the error.
                if case .failure(let error) = result {
                    for id in Set(p.step.work.map(\.id)) {
                        s.scheduler.cancel(id)
                        if let seq = s.sequences.removeValue(forKey: id) {
                            out.append((seq.continuation, [.failed(EngineError(.modelFailure, error.message))], true))
                        }
                    }
                }
                return out
            }
            var prompt: [Int: [PromptToken]] = [:]
            for (row, (id, promptToken)) in p.rows.enumerated() {
                guard var seq = s.sequences[id] else { continue }  // cancelled during the step
                let rowLogits = logits[(row * vocab)..<((row + 1) * vocab)]
                if let index = promptToken {
                    if seq.promptLogprobsSent == 0 {  // the first token has nothing before it
                        prompt[id, default: []].append(PromptToken(id: seq.request.prompt[0], logprob: nil, topLogprobs: []))
                    }
                    prompt[id, default: []].append(seq.promptToken(index, logits: rowLogits))
                    seq.promptLogprobsSent = index + 1
                    s.sequences[id] = seq
                    continue
                }
                let (token, reason) = seq.scoreOnly ? (nil, .length) : seq.next(rowLogits, tokenizer: tokenizer)
                var events = prompt.removeValue(forKey: id).map { [EngineEvent.prompt($0)] } ?? []
                if token != nil { events.append(.token(token!)) }
                let limit = p.step.finished.contains(id)
                if reason != nil || limit {
                    if !limit { s.scheduler.finish(id) }
                    events.append(.finished(seq.completion(reason ?? .length)))
                    s.sequences[id] = nil
                    out.append((seq.continuation, events, true))
                } else {
                    s.sequences[id] = seq
                    out.append((seq.continuation, events, false))
                }
            }
            for (id, tokens) in prompt {  // prompt chunks that sampled nothing yet
                if let seq = s.sequences[id] { out.append((seq.continuation, [.prompt(tokens)], false)) }
            }
            return out
        }
    }

    /// Hands events to the streams outside the lock (ending a stream runs its termination handler, which locks).
    private func deliver(_ deliveries: [Delivery]) {
        for (continuation, events, end) in deliveries {
            for e in events { continuation.yield(e) }
            if end { continuation.finish() }
        }
    }
}
