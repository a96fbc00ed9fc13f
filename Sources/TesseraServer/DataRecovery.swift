import TesseraAdapters

/// Start-up repair of the data directory after a crash (DESIGN 3.8). Files are written before their registry rows
/// and rows deleted before their files, so a crash can leave only: a temporary of an unfinished write, or a stored
/// file no row names (an upload killed before its row, a delete killed after its rows). Both are removed. A row whose
/// file is missing cannot come from a crash; if someone removed files by hand, the row is dropped so the registry
/// never lists an adapter it cannot serve.
public enum DataRecovery {
    public struct Report: Sendable, Equatable, CustomStringConvertible {
        public var temporaries = 0
        public var orphanFiles = 0
        public var rowsWithoutFiles: [String] = []

        public var isClean: Bool { temporaries == 0 && orphanFiles == 0 && rowsWithoutFiles.isEmpty }
        public var description: String {
            "removed \(temporaries) unfinished write(s) and \(orphanFiles) unregistered adapter file(s)"
                + (rowsWithoutFiles.isEmpty ? "" : "; dropped \(rowsWithoutFiles.count) registry row(s) whose files are missing (\(rowsWithoutFiles.joined(separator: ", ")))")
        }
    }

    public static func recover(registry: Registry, store: AdapterStore) throws -> Report {
        var report = Report()
        let (ids, temporaries) = try store.contents()
        for t in temporaries { try store.removeTemporary(t) }
        report.temporaries = temporaries.count
        let registered = try registry.allStoreIDs()
        for id in ids where !registered.contains(id) {
            try store.delete(id: id)
            report.orphanFiles += 1
        }
        report.rowsWithoutFiles = registered.subtracting(ids).sorted()
        if !report.rowsWithoutFiles.isEmpty { try registry.deleteAdapterRows(storeIDs: report.rowsWithoutFiles) }
        return report
    }
}
