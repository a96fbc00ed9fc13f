import TesseraModel
import TesseraTokenizer

/// The engine's side of one request: its tokens so far, how it samples, the text it has shown, its KV cache.
struct SequenceState {
    let request: EngineRequest
    let continuation: AsyncStream<EngineEvent>.Continuation
    /// Prompt, then every generated token (a recomputation after preemption replays them).
    private(set) var tokens: [Int32]
    private(set) var generated = 0
    /// Dropped on preemption; a new one is made when the sequence starts over.
    var cache: KVCache?
    private var sampler: Sampler
    private var detokenizer: IncrementalDetokenizer
    private var stops: StopMatcher
    /// A stop string ended the text; what followed it is dropped.
    private var cut = false
    /// Prompt tokens whose logprobs have been sent (a recomputation after preemption does not send them again).
    var promptLogprobsSent = 0

    /// Only the prompt's logprobs were asked for (max_tokens 0): nothing is sampled.
    let scoreOnly: Bool

    init(request: EngineRequest, tokenizer: Tokenizer, continuation: AsyncStream<EngineEvent>.Continuation, scoreOnly: Bool = false) {
        self.request = request
        self.scoreOnly = scoreOnly
        self.continuation = continuation
        tokens = request.prompt
        sampler = Sampler(parameters: request.parameters, prompt: request.prompt)
        detokenizer = IncrementalDetokenizer(tokenizer: tokenizer)
        stops = StopMatcher(stops: request.parameters.stop)
    }

    /// The model input for positions start..<start+count (adapter positions first, then tokens).
    func chunk(start: Int, count: Int) -> ArraySlice<Int32> {
        let a = request.adapterPositions
        return tokens[(max(start, a) - a)..<(start + count - a)]
    }

    /// The logprob of prompt token `index` from the logits of the row before it.
    func promptToken(_ index: Int, logits: ArraySlice<Float>) -> PromptToken {
        let id = request.prompt[index]
        let (lp, top) = Logprobs.of(logits, token: id, top: request.logprobs ?? 0)
        return PromptToken(id: id, logprob: lp, topLogprobs: top)
    }

    /// Chooses the next token from its logits. Returns the event and, when the sequence ends with it, why.
    mutating func next(_ logits: ArraySlice<Float>, tokenizer: Tokenizer) -> (GeneratedToken?, FinishReason?) {
        let token = sampler.sample(logits)
        sampler.accept(token)
        generated += 1
        var event = GeneratedToken(id: token, text: "", logprob: nil, topLogprobs: [])
        if let k = request.logprobs {
            (event.logprob, event.topLogprobs) = Logprobs.of(logits, token: token, top: k)
        }
        // Any end-of-generation token of the model (EOS, end of turn, end of message …) ends the answer.
        if tokenizer.isEndOfGeneration(token) && !request.parameters.ignoreEOS { return (nil, .stop) }
        tokens.append(token)
        // Other control tokens print nothing.
        let (emit, stopped) = stops.append(tokenizer.isControl(token) ? "" : detokenizer.append(token))
        event.text = emit
        cut = stopped
        return (event, stopped ? .stop : nil)
    }

    /// The finish event; text still held is shown unless a stop string cut it.
    mutating func completion(_ reason: FinishReason) -> Completion {
        let rest = cut ? "" : stops.append(detokenizer.flush()).emit + stops.flush()
        return Completion(reason: reason, text: rest, promptTokens: request.prompt.count, completionTokens: generated)
    }
}
