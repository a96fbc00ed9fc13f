import Foundation
import Synchronization

/// Requests and tokens of rate-limited tenants in fixed one-minute windows (the limits `TenantLimiter` enforces).
/// In one process the counts live in memory (`LocalUsageCounter`); replicas count in the shared registry, so a limit
/// holds for the sum of every replica's traffic.
public protocol UsageCounter: Sendable {
    /// Counts one request and its prompt tokens in `minute` if that keeps the tenant within its limits; otherwise
    /// counts nothing and says which limit refused it.
    func admit(tenantID: String, minute: Int, promptTokens: Int, requestsPerMinute: Int?, tokensPerMinute: Int?) throws(RegistryError) -> UsageRefusal?
    /// Generated tokens, counted as they are made (a shared counter sends them in batches).
    func charge(tenantID: String, minute: Int, tokens: Int)
    /// Counts now what `charge` has batched (at shutdown, and where a caller must see its own charges).
    func flush()
}

public enum UsageRefusal: Sendable, Equatable {
    case requests(limit: Int)
    case tokens(limit: Int, used: Int)
}

/// The counts of one process, in memory.
public final class LocalUsageCounter: UsageCounter {
    private struct Window {
        var minute = 0
        var requests = 0
        var tokens = 0
    }

    private let windows = Mutex<[String: Window]>([:])

    public init() {}

    public func admit(tenantID: String, minute: Int, promptTokens: Int, requestsPerMinute: Int?, tokensPerMinute: Int?) throws(RegistryError) -> UsageRefusal? {
        windows.withLock { all in
            var w = all[tenantID].flatMap { $0.minute == minute ? $0 : nil } ?? Window(minute: minute)
            if let rpm = requestsPerMinute, w.requests >= rpm { return .requests(limit: rpm) }
            if let tpm = tokensPerMinute, w.tokens + promptTokens > tpm { return .tokens(limit: tpm, used: w.tokens) }
            w.requests += 1
            w.tokens += promptTokens
            all[tenantID] = w
            return nil
        }
    }

    public func flush() {}

    public func charge(tenantID: String, minute: Int, tokens: Int) {
        windows.withLock { all in
            var w = all[tenantID].flatMap { $0.minute == minute ? $0 : nil } ?? Window(minute: minute)
            w.tokens += tokens
            all[tenantID] = w
        }
    }
}
