import Foundation
import GRDB

/// The server's state in SQLite (DESIGN 3.8): tenants and their hashed keys, adapters and their versions, training
/// files, fine-tuning jobs with their events and checkpoints (`Registry+Files`, `Registry+Jobs`). One file in the data
/// dir; every change in a transaction.
public final class Registry: Sendable {
    let db: DatabaseQueue
    public let directory: URL

    /// Opens (creating if needed) `registry.sqlite` in `directory`.
    public init(directory: URL) throws(RegistryError) {
        self.directory = directory
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            // Another process (the CLI beside a running server) may hold the lock for a moment: wait, do not fail.
            var configuration = Configuration()
            configuration.busyMode = .timeout(10)
            db = try DatabaseQueue(path: directory.appendingPathComponent("registry.sqlite").path, configuration: configuration)
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
        m.registerMigration("v2-adapters") { db in
            try db.create(table: "adapter") { t in
                t.primaryKey("storeID", .text)
                t.column("tenantID", .text).notNull().references("tenant", onDelete: .cascade)
                t.column("name", .text).notNull()
                t.column("version", .integer).notNull()
                t.column("kind", .text).notNull()
                t.column("bytes", .integer).notNull()
                t.column("createdAt", .datetime).notNull()
                t.uniqueKey(["tenantID", "name", "version"])
            }
        }
        m.registerMigration("v3-limits") { db in
            try db.alter(table: "tenant") { t in
                t.add(column: "requestsPerMinute", .integer)
                t.add(column: "tokensPerMinute", .integer)
                t.add(column: "maxConcurrent", .integer)
            }
        }
        m.registerMigration("v4-shared") { db in
            // The owner of adapters the admin loads for everyone (vLLM's load_lora_adapter). Its id cannot be a
            // tenant's (those are 12 characters) and its name cannot be one (names start with a letter or digit);
            // it has no key.
            try db.execute(sql: "INSERT INTO tenant (id, name, weight, keyHash, createdAt, revoked) VALUES (?, ?, 1, x'', ?, 1)",
                           arguments: [Self.sharedTenantID, "_shared", Date()])
        }
        m.registerMigration("v5-max-tokens") { db in
            try db.alter(table: "tenant") { t in t.add(column: "maxTokens", .integer) }
        }
        m.registerMigration("v6-fine-tuning") { db in
            try db.alter(table: "tenant") { t in t.add(column: "maxTrainingJobs", .integer) }
            try db.create(table: "file") { t in
                t.primaryKey("id", .text)
                t.column("tenantID", .text).notNull().references("tenant", onDelete: .cascade)
                t.column("filename", .text).notNull()
                t.column("purpose", .text).notNull()
                t.column("bytes", .integer).notNull()
                t.column("lines", .integer).notNull()
                t.column("format", .text).notNull()
                t.column("createdAt", .datetime).notNull()
            }
            try db.create(table: "fine_tuning_job") { t in
                t.primaryKey("id", .text)
                t.column("tenantID", .text).notNull().references("tenant", onDelete: .cascade)
                t.column("model", .text).notNull()
                t.column("trainingFile", .text).notNull()
                t.column("validationFile", .text)
                t.column("suffix", .text)
                t.column("seed", .integer).notNull()
                t.column("metadata", .text)
                t.column("spec", .text).notNull()
                t.column("status", .text).notNull().indexed()
                t.column("createdAt", .datetime).notNull()
                t.column("startedAt", .datetime)
                t.column("finishedAt", .datetime)
                t.column("fineTunedModel", .text)
                t.column("trainedTokens", .integer)
                t.column("errorCode", .text)
                t.column("errorMessage", .text)
                t.column("errorParam", .text)
                t.column("estimatedFinish", .datetime)
                t.column("resultFiles", .text).notNull()
                t.column("attempts", .integer).notNull()
            }
            try db.create(table: "job_event") { t in
                t.autoIncrementedPrimaryKey("seq")
                t.column("id", .text).notNull().unique()
                t.column("jobID", .text).notNull().references("fine_tuning_job", onDelete: .cascade).indexed()
                t.column("createdAt", .datetime).notNull()
                t.column("level", .text).notNull()
                t.column("message", .text).notNull()
                t.column("type", .text).notNull()
                t.column("data", .text)
            }
            try db.create(table: "job_checkpoint") { t in
                t.primaryKey("id", .text)
                t.column("jobID", .text).notNull().references("fine_tuning_job", onDelete: .cascade).indexed()
                t.column("step", .integer).notNull()
                t.column("model", .text).notNull()
                t.column("metrics", .text).notNull()
                t.column("createdAt", .datetime).notNull()
            }
        }
        return m
    }

    /// Owner of the adapters every tenant may use.
    public static let sharedTenantID = "shared"

    /// A new tenant and its API key (returned once; only its hash is kept). `configure` sets its limits in the same
    /// transaction, so a crash never leaves a tenant without the limits it was created with.
    public func createTenant(name: String, weight: Double = 1,
                             configure: (inout Tenant) throws(RegistryError) -> Void = { _ in }) throws(RegistryError) -> (tenant: Tenant, key: String) {
        guard Tenant.isValidName(name) else {
            throw RegistryError("tenant name '\(name)' must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
        }
        guard weight.isFinite, weight > 0, weight <= 1000 else { throw RegistryError("tenant weight must be in (0, 1000], got \(weight)") }
        let id = APIKey.randomID(length: 12)
        let (key, hash) = APIKey.make(tenantID: id)
        var tenant = Tenant(id: id, name: name, weight: weight, keyHash: hash, createdAt: Date(), revoked: false)
        try configure(&tenant)
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

    /// Records a new version of a tenant's adapter (its file is already in the store: files first, DESIGN 3.8).
    public func addAdapter(tenantID: String, name: String, kind: String, bytes: Int, storeID: String) throws(RegistryError) -> AdapterRecord {
        do {
            return try db.write { db in
                let latest = try Int.fetchOne(db, sql: "SELECT MAX(version) FROM adapter WHERE tenantID = ? AND name = ?",
                                              arguments: [tenantID, name]) ?? 0
                let record = AdapterRecord(storeID: storeID, tenantID: tenantID, name: name, version: latest + 1, kind: kind,
                                           bytes: bytes, createdAt: Date())
                try record.insert(db)
                return record
            }
        } catch {
            throw RegistryError("cannot record adapter '\(name)': \(error)")
        }
    }

    /// The adapter a tenant means by `name`: its own, else a shared one; other tenants' adapters do not exist here.
    public func visibleAdapter(tenantID: String, name: String) throws(RegistryError) -> AdapterRecord? {
        if let own = try adapter(tenantID: tenantID, name: name) { return own }
        return try adapter(tenantID: Self.sharedTenantID, name: name)
    }

    /// The newest version of the tenant's adapter `name`; other tenants' adapters do not exist here.
    public func adapter(tenantID: String, name: String) throws(RegistryError) -> AdapterRecord? {
        do {
            return try db.read { db in
                try AdapterRecord.filter(Column("tenantID") == tenantID && Column("name") == name)
                    .order(Column("version").desc).fetchOne(db)
            }
        } catch {
            throw RegistryError("registry read failed: \(error)")
        }
    }

    /// The newest version of each of the tenant's adapters, by name.
    public func adapters(tenantID: String) throws(RegistryError) -> [AdapterRecord] {
        do {
            let all = try db.read { db in
                try AdapterRecord.filter(Column("tenantID") == tenantID).order(Column("name"), Column("version").desc).fetchAll(db)
            }
            var seen = Set<String>()
            return all.filter { seen.insert($0.name).inserted }
        } catch {
            throw RegistryError("registry read failed: \(error)")
        }
    }

    /// Removes every version of the tenant's adapter; returns their store ids (the files go after the rows).
    public func deleteAdapter(tenantID: String, name: String) throws(RegistryError) -> [String] {
        do {
            return try db.write { db in
                let records = try AdapterRecord.filter(Column("tenantID") == tenantID && Column("name") == name).fetchAll(db)
                for r in records { try r.delete(db) }
                return records.map(\.storeID)
            }
        } catch {
            throw RegistryError("cannot delete adapter '\(name)': \(error)")
        }
    }

    /// Every adapter version's store id, of every tenant.
    public func allStoreIDs() throws(RegistryError) -> Set<String> {
        do { return Set(try db.read { try String.fetchAll($0, sql: "SELECT storeID FROM adapter") }) } catch {
            throw RegistryError("registry read failed: \(error)")
        }
    }

    /// Drops the rows of adapter versions whose files are gone (start-up recovery only).
    public func deleteAdapterRows(storeIDs: [String]) throws(RegistryError) {
        do {
            try db.write { db in
                for id in storeIDs { try db.execute(sql: "DELETE FROM adapter WHERE storeID = ?", arguments: [id]) }
            }
        } catch {
            throw RegistryError("cannot drop adapter rows: \(error)")
        }
    }

    public func tenant(id: String) throws(RegistryError) -> Tenant? {
        do { return try db.read { try Tenant.fetchOne($0, key: id) } } catch { throw RegistryError("registry read failed: \(error)") }
    }

    public func tenant(named name: String) throws(RegistryError) -> Tenant? {
        do { return try db.read { try Tenant.filter(Column("name") == name).fetchOne($0) } } catch { throw RegistryError("registry read failed: \(error)") }
    }

    /// Changes a tenant (weight, limits, revocation) in one transaction; nil when there is no such tenant.
    public func updateTenant(named name: String, _ change: (inout Tenant) throws(RegistryError) -> Void) throws(RegistryError) -> Tenant? {
        guard var tenant = try tenant(named: name) else { return nil }
        try change(&tenant)
        let updated = tenant
        do { try db.write { try updated.update($0) } } catch { throw RegistryError("cannot update tenant '\(name)': \(error)") }
        return updated
    }

    /// A new key for the tenant; the old one stops working at once. Returns the key (shown once).
    public func rotateKey(named name: String) throws(RegistryError) -> String? {
        var key = ""
        let updated = try updateTenant(named: name) { t throws(RegistryError) in
            let (k, hash) = APIKey.make(tenantID: t.id)
            key = k
            t.keyHash = hash
            t.revoked = false
        }
        return updated == nil ? nil : key
    }

    public func tenants() throws(RegistryError) -> [Tenant] {
        do { return try db.read { try Tenant.filter(Column("id") != Self.sharedTenantID).order(Column("name")).fetchAll($0) } } catch { throw RegistryError("registry read failed: \(error)") }
    }
}

public struct RegistryError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
