import Foundation
import Synchronization

/// A tenant's rate limits (requests and tokens per minute, fixed one-minute windows, counted by the registry's
/// `UsageCounter` so they hold across replicas) and its concurrency cap (per replica), checked before a request
/// reaches the engine; over a limit is 429 with Retry-After.
final class TenantLimiter: Sendable {
    private let usage: any UsageCounter
    private let concurrent = Mutex<[String: Int]>([:])

    init(usage: any UsageCounter) { self.usage = usage }

    /// Held while a request runs; releases its concurrency slot when dropped.
    final class Lease: Sendable {
        let limiter: TenantLimiter
        let tenant: String
        let counted: Bool
        init(_ limiter: TenantLimiter, _ tenant: String, counted: Bool) {
            self.limiter = limiter
            self.tenant = tenant
            self.counted = counted
        }
        /// Generated tokens count against the tokens-per-minute limit as they are made.
        func charge(tokens: Int) {
            guard counted else { return }
            limiter.usage.charge(tenantID: tenant, minute: TenantLimiter.minute(Date()), tokens: tokens)
        }
        deinit { limiter.concurrent.withLock { $0[tenant, default: 0] -= 1 } }
    }

    static func minute(_ d: Date) -> Int { Int(d.timeIntervalSince1970 / 60) }

    func admit(_ t: Tenant, promptTokens: Int, now: Date = Date()) throws -> Lease {
        let retry = String(60 - Int(now.timeIntervalSince1970) % 60)
        try concurrent.withLock { c throws(APIError) in
            if let max = t.maxConcurrent, c[t.id, default: 0] >= max {
                throw Self.limited("tenant '\(t.name)' has \(max) requests running, its limit", retry: "1")
            }
            c[t.id, default: 0] += 1
        }
        // Tenants without per-minute limits cost no counting (and, on a shared registry, no round trip).
        let counted = t.requestsPerMinute != nil || t.tokensPerMinute != nil
        let lease = Lease(self, t.id, counted: counted)
        guard counted else { return lease }
        let refusal: UsageRefusal?
        do {
            refusal = try usage.admit(tenantID: t.id, minute: Self.minute(now), promptTokens: promptTokens,
                                      requestsPerMinute: t.requestsPerMinute, tokensPerMinute: t.tokensPerMinute)
        } catch {
            throw APIError(.serviceUnavailable, "cannot count the request against tenant '\(t.name)''s limits: \(error)")
        }
        switch refusal {
        case nil: return lease
        case .requests(let rpm):
            throw Self.limited("tenant '\(t.name)' reached its limit of \(rpm) requests per minute", retry: retry)
        case .tokens(let tpm, let used):
            throw Self.limited("tenant '\(t.name)' would pass its limit of \(tpm) tokens per minute (\(used) used, \(promptTokens) asked)", retry: retry)
        }
    }

    private static func limited(_ message: String, retry: String) -> APIError {
        var e = APIError(.tooManyRequests, message, code: "rate_limit_exceeded")
        e.headers[.retryAfter] = retry
        return e
    }
}
