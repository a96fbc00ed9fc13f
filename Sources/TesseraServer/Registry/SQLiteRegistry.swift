import Foundation
import GRDB

/// The embedded registry (DESIGN 3.8): one SQLite file in the data dir, for one server process (and the CLI beside
/// it, which waits for the file's lock). Files and jobs are in `SQLiteRegistry+Files` and `SQLiteRegistry+Jobs`.
public final class SQLiteRegistry: Registry {
    let db: DatabaseQueue
    public let directory: URL
    public let usage: any UsageCounter = LocalUsageCounter()
    public var isShared: Bool { false }

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
            // The owner of adapters the admin loads for everyone (`sharedTenantID`).
            try db.execute(sql: "INSERT INTO tenant (id, name, weight, keyHash, createdAt, revoked) VALUES (?, ?, 1, x'', ?, 1)",
                           arguments: [sharedTenantID, "_shared", Date()])
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
        m.registerMigration("v7-replicas") { db in
            // Which replica runs a job, and when it last said so (a shared registry requeues jobs whose owner died;
            // here they only keep the two registries' rows alike).
            try db.alter(table: "fine_tuning_job") { t in
                t.add(column: "owner", .text)
                t.add(column: "heartbeatAt", .datetime)
            }
        }
        return m
    }

    public func observe(_ handler: @escaping @Sendable (RegistryChange) -> Void) {}

    public func isReachable() -> Bool { true }

    public func insertTenant(_ tenant: Tenant) throws(RegistryError) {
        do {
            try db.write { db in
                guard try Tenant.filter(Column("name") == tenant.name).fetchCount(db) == 0 else {
                    throw RegistryError("tenant '\(tenant.name)' exists")
                }
                try tenant.insert(db)
            }
        } catch let e as RegistryError {
            throw e
        } catch {
            throw RegistryError("cannot create tenant '\(tenant.name)': \(error)")
        }
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

    public func saveTenant(_ tenant: Tenant) throws(RegistryError) {
        do { try db.write { try tenant.update($0) } } catch { throw RegistryError("cannot update tenant '\(tenant.name)': \(error)") }
    }

    public func tenants() throws(RegistryError) -> [Tenant] {
        do { return try db.read { try Tenant.filter(Column("id") != sharedTenantID).order(Column("name")).fetchAll($0) } } catch { throw RegistryError("registry read failed: \(error)") }
    }
}
