import Foundation
import GRDB

/// A tenant's uploaded training file (`/v1/files`): its id is also its name in the file store (server-made,
/// DESIGN 3.10); the name the client gave is kept only to show it back.
public struct FileRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "file"

    /// `file-` and 24 lowercase letters or digits.
    public var id: String
    public var tenantID: String
    public var filename: String
    /// `fine-tune` (uploaded) or `fine-tune-results` (a job's metrics, written by the server).
    public var purpose: String
    public var bytes: Int
    /// Rows (non-empty lines) of a JSONL file.
    public var lines: Int
    /// The rows' shape, a `TrainingFileFormat` (`results` for a job's metrics).
    public var format: String
    public var createdAt: Date

    public init(id: String, tenantID: String, filename: String, purpose: String, bytes: Int, lines: Int, format: String, createdAt: Date) {
        self.id = id
        self.tenantID = tenantID
        self.filename = filename
        self.purpose = purpose
        self.bytes = bytes
        self.lines = lines
        self.format = format
        self.createdAt = createdAt
    }
}
