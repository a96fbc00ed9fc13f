import TesseraAdapters
import TesseraFormats

/// Start-up repair of the data directory after a crash (DESIGN 3.8). Files are written before their registry rows
/// and rows deleted before their files, so a crash can leave only: a temporary of an unfinished write, or a stored
/// file no row names (an upload killed before its row, a delete killed after its rows). Both are removed. A row whose
/// file is missing cannot come from a crash; if someone removed files by hand, the row is dropped so the registry
/// never lists an adapter (or a training file) it cannot serve. Adapters and training files are swept alike.
public enum DataRecovery {
    public struct Report: Sendable, Equatable, CustomStringConvertible {
        public var temporaries = 0
        public var orphanFiles = 0
        /// Store ids (adapters) and file ids (training files) whose rows were dropped.
        public var rowsWithoutFiles: [String] = []

        public var isClean: Bool { temporaries == 0 && orphanFiles == 0 && rowsWithoutFiles.isEmpty }
        public var description: String {
            "removed \(temporaries) unfinished write(s) and \(orphanFiles) unregistered stored file(s)"
                + (rowsWithoutFiles.isEmpty ? "" : "; dropped \(rowsWithoutFiles.count) registry row(s) whose files are missing (\(rowsWithoutFiles.joined(separator: ", ")))")
        }
    }

    /// Sweeps the adapter store and, when fine-tuning is on, the training files.
    public static func recover(registry: Registry, store: AdapterStore, files: BlobStore? = nil) throws -> Report {
        var report = Report()
        try sweep(store.files, registered: try registry.allStoreIDs(), into: &report) { try registry.deleteAdapterRows(storeIDs: $0) }
        if let files {
            try sweep(files, registered: try registry.allFileIDs(), into: &report) { try registry.deleteFileRows(ids: $0) }
        }
        return report
    }

    private static func sweep(_ blobs: BlobStore, registered: Set<String>, into report: inout Report,
                              dropRows: ([String]) throws -> Void) throws {
        let (ids, temporaries) = try blobs.contents()
        for t in temporaries { try blobs.removeTemporary(t) }
        report.temporaries += temporaries.count
        for id in ids where !registered.contains(id) {
            try blobs.delete(id: id)
            report.orphanFiles += 1
        }
        let missing = registered.subtracting(ids).sorted()
        if !missing.isEmpty { try dropRows(missing) }
        report.rowsWithoutFiles += missing
    }
}
