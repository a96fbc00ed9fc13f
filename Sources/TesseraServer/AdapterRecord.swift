import Foundation
import GRDB

/// One version of a tenant's adapter: its name in the API and its file in the store (server-made id, DESIGN 3.10).
public struct AdapterRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "adapter"

    public var storeID: String
    public var tenantID: String
    public var name: String
    public var version: Int
    public var kind: String
    public var bytes: Int
    public var createdAt: Date

    public init(storeID: String, tenantID: String, name: String, version: Int, kind: String, bytes: Int, createdAt: Date) {
        self.storeID = storeID
        self.tenantID = tenantID
        self.name = name
        self.version = version
        self.kind = kind
        self.bytes = bytes
        self.createdAt = createdAt
    }

    /// A fresh store id: "a" and 23 lowercase letters or digits (never a tenant's words, DESIGN 3.10).
    public static func newStoreID() -> String { "a" + APIKey.randomID(length: 23) }
}
