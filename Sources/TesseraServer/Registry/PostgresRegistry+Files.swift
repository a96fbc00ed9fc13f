import Foundation
import PostgresNIO

/// Training files in the shared registry (the files themselves are in the shared adapter store).
extension PostgresRegistry {
    public func addFile(_ f: FileRecord) throws(RegistryError) {
        try pool.withConnection("cannot record file '\(f.id)'") { c in try Self.insert(f, c) }
    }

    static func insert(_ f: FileRecord, _ c: PostgresConnection) throws {
        try c.run("""
            INSERT INTO file (id, tenant_id, filename, purpose, bytes, lines, format, created_at)
            VALUES (\(f.id), \(f.tenantID), \(f.filename), \(f.purpose), \(f.bytes), \(f.lines), \(f.format), \(f.createdAt))
            """)
    }

    public func file(tenantID: String, id: String) throws(RegistryError) -> FileRecord? {
        try pool.withConnection("registry read failed") { c in
            try c.run("SELECT * FROM file WHERE id = \(id) AND tenant_id = \(tenantID)").first.map(FileRecord.init)
        }
    }

    public func files(tenantID: String, purpose: String?, after: String?, limit: Int) throws(RegistryError) -> [FileRecord] {
        try pool.withConnection("registry read failed") { c in
            // The page after `after`: older than it, ties broken by id, as in SQLite (an unknown `after` is ignored).
            let cursor = try after.flatMap { after in
                try c.run("SELECT created_at, id FROM file WHERE id = \(after) AND tenant_id = \(tenantID)").first?.decode((Date, String).self)
            }
            return try c.run("""
                SELECT * FROM file WHERE tenant_id = \(tenantID) AND (\(purpose)::text IS NULL OR purpose = \(purpose))
                  AND (\(cursor?.0)::timestamptz IS NULL OR (created_at, id) < (\(cursor?.0), \(cursor?.1)))
                ORDER BY created_at DESC, id DESC LIMIT \(limit)
                """).map(FileRecord.init)
        }
    }

    public func fileBytes(tenantID: String) throws(RegistryError) -> Int {
        try pool.withConnection("registry read failed") { c in
            try c.run("SELECT COALESCE(SUM(bytes), 0)::bigint FROM file WHERE tenant_id = \(tenantID)").first?.decode(Int.self) ?? 0
        }
    }

    public func deleteFile(tenantID: String, id: String) throws(RegistryError) -> Bool {
        try pool.withConnection("cannot delete file '\(id)'") { c in try c.changed("DELETE FROM file WHERE id = \(id) AND tenant_id = \(tenantID)") > 0 }
    }

    public func allFileIDs() throws(RegistryError) -> Set<String> {
        try pool.withConnection("registry read failed") { c in Set(try c.run("SELECT id FROM file").map { try $0.decode(String.self) }) }
    }

    public func deleteFileRows(ids: [String]) throws(RegistryError) {
        guard !ids.isEmpty else { return }
        _ = try pool.withConnection("cannot drop file rows") { c in try c.run("DELETE FROM file WHERE id = ANY(\(ids))") }
    }
}
