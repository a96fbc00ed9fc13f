/// What happened to one request, with times in seconds: `sent` from the start of the run, the rest from `sent`.
public struct RequestOutcome: Sendable {
    public var index: Int
    public var tenant: Int
    public var adapter: String?
    public var success = false
    /// HTTP status; 0 when no response came (connection error or timeout).
    public var status = 0
    /// Why it failed: "timeout", "connection", "stream", or the HTTP status as text.
    public var failure: String?
    public var error: String?
    /// When the request left (after its planned arrival when `max_concurrency` held it back).
    public var sent = 0.0
    /// To the first chunk with choices (vLLM's definition); 0 when none came.
    public var ttft = 0.0
    /// Gaps between chunks with choices.
    public var itl: [Double] = []
    /// To the last chunk with choices.
    public var latency = 0.0
    public var promptTokens = 0
    public var outputTokens = 0
    /// Whether `outputTokens` came from the server's usage (else counted chunks).
    public var usageReported = false
    public var generatedText = ""

    public init(index: Int, tenant: Int, adapter: String?) {
        self.index = index
        self.tenant = tenant
        self.adapter = adapter
    }

    /// Arrival times of the chunks with choices, from the start of the run, for throughput over time.
    public var chunkTimes: [Double] {
        guard ttft > 0 else { return [] }
        var t = sent + ttft
        var out = [t]
        for gap in itl { t += gap; out.append(t) }
        return out
    }
}
