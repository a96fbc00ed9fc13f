import Foundation
import GRDB

/// The server's state in SQLite (DESIGN 3.8): tenants and their hashed keys. One file in the data dir; every change in
/// a transaction.
public final class Registry: Sendable {
    private let db: DatabaseQueue

    /// Opens (creating if needed) `registry.sqlite` in `directory`.
    public init(directory: URL) throws(RegistryError) {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            db = try DatabaseQueue(path: directory.appendingPathComponent("registry.sqlite").path)
            try Self.migrator.migrate(db)
        } catch {
            throw RegistryError("\(directory.path): cannot open the registry (\(error))")
        }
    }

    private static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.create(table: "tenant") { t in
                t.primaryKey("id", .text)
                t.column("name", .text).notNull().unique()
                t.column("weight", .double).notNull()
                t.column("keyHash", .blob).notNull()
                t.column("createdAt", .datetime).notNull()
                t.column("revoked", .boolean).notNull()
            }
        }
        return m
    }

    /// A new tenant and its API key (returned once; only its hash is kept).
    public func createTenant(name: String, weight: Double = 1) throws(RegistryError) -> (tenant: Tenant, key: String) {
        guard Tenant.isValidName(name) else {
            throw RegistryError("tenant name '\(name)' must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
        }
        guard weight.isFinite, weight > 0, weight <= 1000 else { throw RegistryError("tenant weight must be in (0, 1000], got \(weight)") }
        let id = String((0..<12).map { _ in "abcdefghijklmnopqrstuvwxyz0123456789".randomElement()! })
        let (key, hash) = APIKey.make(tenantID: id)
        let tenant = Tenant(id: id, name: name, weight: weight, keyHash: hash, createdAt: Date(), revoked: false)
        do {
            try db.write { db in
                guard try Tenant.filter(Column("name") == name).fetchCount(db) == 0 else {
                    throw RegistryError("tenant '\(name)' exists")
                }
                try tenant.insert(db)
            }
        } catch let e as RegistryError {
            throw e
        } catch {
            throw RegistryError("cannot create tenant '\(name)': \(error)")
        }
        return (tenant, key)
    }

    /// The tenant an API key belongs to, or nil (unknown, wrong or revoked key).
    public func tenant(forKey key: String) throws(RegistryError) -> Tenant? {
        guard let (id, secret) = APIKey.parse(key) else { return nil }
        let tenant: Tenant?
        do { tenant = try db.read { try Tenant.fetchOne($0, key: id) } } catch { throw RegistryError("registry read failed: \(error)") }
        guard let tenant, !tenant.revoked, APIKey.matches(secret, hash: tenant.keyHash) else { return nil }
        return tenant
    }

    public func tenants() throws(RegistryError) -> [Tenant] {
        do { return try db.read { try Tenant.order(Column("name")).fetchAll($0) } } catch { throw RegistryError("registry read failed: \(error)") }
    }
}

public struct RegistryError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
