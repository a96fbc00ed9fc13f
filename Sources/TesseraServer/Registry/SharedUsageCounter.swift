import Foundation
import Logging
import PostgresNIO
import Synchronization

/// Rate-limit counts in the shared registry's `tenant_usage`, so a limit holds for the sum of every replica's
/// traffic. A request is one conditional upsert (counted only if it fits, atomically against other replicas);
/// generated tokens, counted per token by the engine, are summed here and written every `flushInterval`, so a
/// stream costs the database a write a quarter second, not one a token.
final class SharedUsageCounter: UsageCounter {
    let pool: PostgresPool
    let logger: Logger
    private let pending = Mutex<[Key: Int]>([:])
    private let flushing = Atomic<Bool>(false)
    static let flushInterval = 0.25

    struct Key: Hashable {
        let tenantID: String
        let minute: Int
    }

    init(pool: PostgresPool, logger: Logger) {
        self.pool = pool
        self.logger = logger
    }

    func admit(tenantID: String, minute: Int, promptTokens: Int, requestsPerMinute rpm: Int?, tokensPerMinute tpm: Int?) throws(RegistryError) -> UsageRefusal? {
        if let tpm, promptTokens > tpm { return .tokens(limit: tpm, used: 0) }
        return try pool.transaction("cannot count tenant usage") { c -> UsageRefusal? in
            // Old windows go as new ones come (one statement, by whichever replica is first in a minute).
            let admitted = try c.run("""
                INSERT INTO tenant_usage AS u (tenant_id, minute, requests, tokens) VALUES (\(tenantID), \(minute), 1, \(promptTokens))
                ON CONFLICT (tenant_id, minute) DO UPDATE SET requests = u.requests + 1, tokens = u.tokens + \(promptTokens)
                WHERE (\(rpm)::bigint IS NULL OR u.requests < \(rpm)) AND (\(tpm)::bigint IS NULL OR u.tokens + \(promptTokens) <= \(tpm))
                RETURNING (xmax = 0) AS inserted
                """)
            if let first = admitted.first {
                if try first.decode(Bool.self) { try c.run("DELETE FROM tenant_usage WHERE tenant_id = \(tenantID) AND minute < \(minute)") }
                return nil
            }
            let (requests, tokens) = try c.run("SELECT requests, tokens FROM tenant_usage WHERE tenant_id = \(tenantID) AND minute = \(minute)")
                .first?.decode((Int, Int).self) ?? (0, 0)
            if let rpm, requests >= rpm { return .requests(limit: rpm) }
            return .tokens(limit: tpm ?? 0, used: tokens)
        }
    }

    func charge(tenantID: String, minute: Int, tokens: Int) {
        pending.withLock { $0[Key(tenantID: tenantID, minute: minute), default: 0] += tokens }
        guard !flushing.exchange(true, ordering: .acquiringAndReleasing) else { return }
        DispatchQueue.global().asyncAfter(deadline: .now() + Self.flushInterval) { [self] in
            flushing.store(false, ordering: .releasing)
            flush()
        }
    }

    /// Writes the tokens counted since the last flush.
    func flush() {
        let batch = pending.withLock { p -> [Key: Int] in
            defer { p = [:] }
            return p
        }
        guard !batch.isEmpty else { return }
        do {
            try pool.transaction("cannot count generated tokens") { c in
                for (k, n) in batch {
                    try c.run("""
                        INSERT INTO tenant_usage AS u (tenant_id, minute, requests, tokens) VALUES (\(k.tenantID), \(k.minute), 0, \(n))
                        ON CONFLICT (tenant_id, minute) DO UPDATE SET tokens = u.tokens + \(n)
                        """)
                }
            }
        } catch {
            // A tenant deleted meanwhile, or the database away: the tokens are not counted, which only errs lenient.
            logger.warning("\(error)")
        }
    }
}
