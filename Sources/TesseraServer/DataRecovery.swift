import Foundation
import TesseraAdapters
import TesseraFormats

/// Start-up repair of the data directory after a crash (DESIGN 3.8). Files are written before their registry rows
/// and rows deleted before their files, so a crash can leave only: a temporary of an unfinished write, or a stored
/// file no row names (an upload killed before its row, a delete killed after its rows). Both are removed. A row whose
/// file is missing cannot come from a crash; if someone removed files by hand, the row is dropped so the registry
/// never lists an adapter (or a training file) it cannot serve. Adapters and training files are swept alike.
///
/// A store shared by replicas is another matter: another replica may be between writing a file and recording it, or
/// writing a temporary, so only those older than `grace` go; and a row whose file is missing is reported, never
/// dropped (a store mounted wrong on one replica must not empty the registry of every replica).
public enum DataRecovery {
    public struct Report: Sendable, Equatable, CustomStringConvertible {
        public var temporaries = 0
        public var orphanFiles = 0
        /// Store ids (adapters) and file ids (training files) whose rows were dropped (or, when shared, found).
        public var rowsWithoutFiles: [String] = []
        public var shared = false

        public var isClean: Bool { temporaries == 0 && orphanFiles == 0 && rowsWithoutFiles.isEmpty }
        public var description: String {
            "removed \(temporaries) unfinished write(s) and \(orphanFiles) unregistered stored file(s)"
                + (rowsWithoutFiles.isEmpty ? "" : "; \(shared ? "kept" : "dropped") \(rowsWithoutFiles.count) registry row(s) whose files are missing (\(rowsWithoutFiles.joined(separator: ", ")))"
                    + (shared ? ": is the shared adapter store mounted?" : ""))
        }
    }

    /// Sweeps the adapter store and, when fine-tuning is on, the training files.
    public static func recover(registry: any Registry, store: AdapterStore, files: BlobStore? = nil, grace: TimeInterval = 600) throws -> Report {
        var report = Report()
        report.shared = registry.isShared
        let age = registry.isShared ? grace : 0
        try sweep(store.files, registered: try registry.allStoreIDs(), olderThan: age, into: &report) { try registry.deleteAdapterRows(storeIDs: $0) }
        if let files {
            try sweep(files, registered: try registry.allFileIDs(), olderThan: age, into: &report) { try registry.deleteFileRows(ids: $0) }
        }
        return report
    }

    private static func sweep(_ blobs: BlobStore, registered: Set<String>, olderThan age: TimeInterval, into report: inout Report,
                              dropRows: ([String]) throws -> Void) throws {
        let (ids, temporaries) = try blobs.contents()
        func old(_ name: String) -> Bool {
            guard age > 0 else { return true }
            let modified = (try? blobs.directory.appendingPathComponent(name).resourceValues(forKeys: [.contentModificationDateKey]))?.contentModificationDate
            return modified.map { -$0.timeIntervalSinceNow >= age } ?? false
        }
        for t in temporaries where old(t) {
            try blobs.removeTemporary(t)
            report.temporaries += 1
        }
        for id in ids where !registered.contains(id) {
            guard let url = try? blobs.url(id), old(url.lastPathComponent) else { continue }
            try blobs.delete(id: id)
            report.orphanFiles += 1
        }
        let missing = registered.subtracting(ids).sorted()
        if !missing.isEmpty, !report.shared { try dropRows(missing) }
        report.rowsWithoutFiles += missing
    }
}
