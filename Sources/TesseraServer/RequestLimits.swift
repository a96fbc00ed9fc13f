/// Server-wide bounds on what one request may cost (tenants may have tighter ones: `Tenant.maxTokens`).
public struct RequestLimits: Sendable {
    /// Largest `max_tokens` accepted (`--max-tokens-limit`); nil: the model's context.
    public var maxTokens: Int?
    /// Seconds a generation request may take from arrival to its last token (`--request-timeout`); nil: no limit.
    public var timeoutSeconds: Double?

    public init(maxTokens: Int? = nil, timeoutSeconds: Double? = nil) {
        self.maxTokens = maxTokens
        self.timeoutSeconds = timeoutSeconds
    }
}
