import Foundation
import GRDB

/// A customer of the server: its key (hashed), its share of the machine and its limits.
public struct Tenant: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "tenant"

    /// Server-made, `[a-z0-9]{12}`; part of the tenant's API key.
    public var id: String
    public var name: String
    /// Share of the engine relative to other tenants (DESIGN 3.6).
    public var weight: Double
    public var keyHash: Data
    public var createdAt: Date
    public var revoked: Bool
    /// Limits; nil: none.
    public var requestsPerMinute: Int?
    public var tokensPerMinute: Int?
    public var maxConcurrent: Int?
    /// Ceiling on a request's `max_tokens` (and the default when a request names none).
    public var maxTokens: Int?
    /// Fine-tuning jobs of this tenant training at once (nil: only the server's `--max-training-jobs` bounds them).
    public var maxTrainingJobs: Int?

    /// Names of tenants and adapters (DESIGN 3.10): never paths, never more than 64 characters.
    public static func isValidName(_ name: String) -> Bool {
        let u = Array(name.utf8)
        func ok(_ c: UInt8, first: Bool) -> Bool {
            (0x30...0x39).contains(c) || (0x41...0x5a).contains(c) || (0x61...0x7a).contains(c) || (!first && [0x2e, 0x5f, 0x2d].contains(c))
        }
        return (1...64).contains(u.count) && ok(u[0], first: true) && u.dropFirst().allSatisfy { ok($0, first: false) }
    }
}
