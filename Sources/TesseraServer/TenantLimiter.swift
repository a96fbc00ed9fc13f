import Foundation
import Synchronization

/// A tenant's rate limits (requests and tokens per minute, fixed one-minute windows) and concurrency cap, checked
/// before a request reaches the engine; over a limit is 429 with Retry-After.
final class TenantLimiter: Sendable {
    private struct Usage {
        var minute = 0
        var requests = 0
        var tokens = 0
        var concurrent = 0
    }

    private let usage = Mutex<[String: Usage]>([:])

    /// Held while a request runs; releases its concurrency slot when dropped.
    final class Lease: Sendable {
        let limiter: TenantLimiter
        let tenant: String
        init(_ limiter: TenantLimiter, _ tenant: String) {
            self.limiter = limiter
            self.tenant = tenant
        }
        /// Generated tokens count against the tokens-per-minute limit as they are made.
        func charge(tokens: Int) { limiter.usage.withLock { $0[tenant, default: .init()].tokens += tokens } }
        deinit { limiter.usage.withLock { $0[tenant, default: .init()].concurrent -= 1 } }
    }

    func admit(_ t: Tenant, promptTokens: Int, now: Date = Date()) throws -> Lease {
        let minute = Int(now.timeIntervalSince1970 / 60)
        let retry = String(60 - Int(now.timeIntervalSince1970) % 60)
        try usage.withLock { all throws(APIError) in
            var u = all[t.id, default: .init()]
            if u.minute != minute {
                u.minute = minute
                u.requests = 0
                u.tokens = 0
            }
            if let max = t.maxConcurrent, u.concurrent >= max {
                throw Self.limited("tenant '\(t.name)' has \(max) requests running, its limit", retry: "1")
            }
            if let rpm = t.requestsPerMinute, u.requests >= rpm {
                throw Self.limited("tenant '\(t.name)' reached its limit of \(rpm) requests per minute", retry: retry)
            }
            if let tpm = t.tokensPerMinute, u.tokens + promptTokens > tpm {
                throw Self.limited("tenant '\(t.name)' would pass its limit of \(tpm) tokens per minute (\(u.tokens) used, \(promptTokens) asked)", retry: retry)
            }
            u.requests += 1
            u.tokens += promptTokens
            u.concurrent += 1
            all[t.id] = u
        }
        return Lease(self, t.id)
    }

    private static func limited(_ message: String, retry: String) -> APIError {
        var e = APIError(.tooManyRequests, message, code: "rate_limit_exceeded")
        e.headers[.retryAfter] = retry
        return e
    }
}
