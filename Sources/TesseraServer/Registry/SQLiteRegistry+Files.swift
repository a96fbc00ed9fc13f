import Foundation
import GRDB

/// Training files in the registry: one row per file, written after the file itself (DESIGN 3.8).
extension SQLiteRegistry {
    public func addFile(_ file: FileRecord) throws(RegistryError) {
        do { try db.write { try file.insert($0) } } catch { throw RegistryError("cannot record file '\(file.id)': \(error)") }
    }

    /// The tenant's file `id`; other tenants' files do not exist here.
    public func file(tenantID: String, id: String) throws(RegistryError) -> FileRecord? {
        try read { try FileRecord.filter(Column("id") == id && Column("tenantID") == tenantID).fetchOne($0) }
    }

    /// The tenant's files, newest first; `after` is the id of the last file of the previous page.
    public func files(tenantID: String, purpose: String? = nil, after: String? = nil, limit: Int) throws(RegistryError) -> [FileRecord] {
        try read { db in
            var q = FileRecord.filter(Column("tenantID") == tenantID)
            if let purpose { q = q.filter(Column("purpose") == purpose) }
            if let after, let cursor = try FileRecord.filter(Column("id") == after && Column("tenantID") == tenantID).fetchOne(db) {
                q = q.filter(Column("createdAt") < cursor.createdAt || (Column("createdAt") == cursor.createdAt && Column("id") < cursor.id))
            }
            return try q.order(Column("createdAt").desc, Column("id").desc).limit(limit).fetchAll(db)
        }
    }

    /// Bytes of the tenant's stored files (its quota is counted against this).
    public func fileBytes(tenantID: String) throws(RegistryError) -> Int {
        try read { try Int.fetchOne($0, sql: "SELECT COALESCE(SUM(bytes), 0) FROM file WHERE tenantID = ?", arguments: [tenantID]) ?? 0 }
    }

    /// Removes the row (the file goes after it); false when the tenant has no such file.
    public func deleteFile(tenantID: String, id: String) throws(RegistryError) -> Bool {
        do {
            return try db.write { try FileRecord.filter(Column("id") == id && Column("tenantID") == tenantID).deleteAll($0) > 0 }
        } catch {
            throw RegistryError("cannot delete file '\(id)': \(error)")
        }
    }

    public func allFileIDs() throws(RegistryError) -> Set<String> {
        Set(try read { try String.fetchAll($0, sql: "SELECT id FROM file") })
    }

    /// Drops the rows of files that are gone (start-up recovery only).
    public func deleteFileRows(ids: [String]) throws(RegistryError) {
        do { try db.write { db in for id in ids { try db.execute(sql: "DELETE FROM file WHERE id = ?", arguments: [id]) } } } catch {
            throw RegistryError("cannot drop file rows: \(error)")
        }
    }

    func read<T>(_ body: (Database) throws -> T) throws(RegistryError) -> T {
        do { return try db.read(body) } catch { throw RegistryError("registry read failed: \(error)") }
    }
}
