import Foundation
import Hummingbird
import TesseraFormats

/// `/v1/files` (OpenAI's shapes): a tenant's training files. Each is checked at upload (a JSONL of rows the trainer
/// reads; 400 naming the line otherwise), stored under a server-made id (the file first, then its row), and seen by
/// its tenant only: another tenant's file answers 404, as if absent.
struct FileRoutes {
    let jobs: TrainingJobs
    var registry: Registry { jobs.registry }

    struct FileObject: Encodable {
        var id: String
        var object = "file"
        var bytes: Int
        var created_at: Int
        var filename: String
        var purpose: String
        var status = "processed"
        var status_details: String? = nil
        var expires_at: Int? = nil

        init(_ f: FileRecord) {
            id = f.id
            bytes = f.bytes
            created_at = Int(f.createdAt.timeIntervalSince1970)
            filename = f.filename
            purpose = f.purpose
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id)
            try c.encode(object, forKey: .object)
            try c.encode(bytes, forKey: .bytes)
            try c.encode(created_at, forKey: .created_at)
            try c.encode(filename, forKey: .filename)
            try c.encode(purpose, forKey: .purpose)
            try c.encode(status, forKey: .status)
            try c.encode(status_details, forKey: .status_details)
            try c.encode(expires_at, forKey: .expires_at)
        }

        enum CodingKeys: String, CodingKey { case id, object, bytes, created_at, filename, purpose, status, status_details, expires_at }
    }

    /// multipart/form-data: `purpose` (fine-tune) and `file`.
    func upload(_ request: Request, _ context: ServerContext) async throws -> Response {
        let tenant = try context.requireTenant()
        let form = try await UploadForm.read(request, limit: jobs.configuration.maxFileBytes + 64 << 10)
        let purpose = form.parts["purpose"].map { String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) }
        guard let purpose else { throw APIError.invalid("missing field 'purpose'", param: "purpose") }
        guard purpose == "fine-tune" else { throw APIError.invalid("purpose must be 'fine-tune' (the only files this server keeps)", param: "purpose") }
        guard let data = form.parts["file"] else { throw APIError.invalid("missing field 'file'", param: "file") }
        guard data.count <= jobs.configuration.maxFileBytes else {
            throw APIError(.contentTooLarge, "the file is \(data.count) bytes; at most \(jobs.configuration.maxFileBytes) are accepted", param: "file")
        }
        let used = try registry.fileBytes(tenantID: tenant.id)
        guard used + data.count <= jobs.configuration.maxTenantFileBytes else {
            throw APIError(.contentTooLarge, "your files would take \(used + data.count) bytes; at most \(jobs.configuration.maxTenantFileBytes) are kept per tenant: delete some first", param: "file", code: "quota_exceeded")
        }
        // A name to show back only (never a path): printable, at most 256 bytes.
        let given = form.filenames["file"] ?? "file.jsonl"
        let filename = String(String(given.unicodeScalars.filter { $0.value >= 0x20 && $0 != "/" && $0 != "\\" }).prefix(256))
        let files = jobs.files
        let (format, lines): (TrainingFileFormat, Int) = try await onWorkerThread {
            do { return try TrainingFileFormat.check(data) } catch {
                throw APIError.invalid("'\(filename)' is not a fine-tuning JSONL file: \(error)", param: "file", code: "invalid_file_format")
            }
        }
        let id = "file-" + APIKey.randomID(length: 24)
        try await onWorkerThread { try files.write(data, id: id) }
        let record = FileRecord(id: id, tenantID: tenant.id, filename: filename.isEmpty ? "file.jsonl" : filename, purpose: purpose,
                                bytes: data.count, lines: lines, format: format.rawValue, createdAt: Date())
        do { try registry.addFile(record) } catch {
            try? files.delete(id: id)
            throw error
        }
        return try .json(FileObject(record))
    }

    func list(_ request: Request, _ context: ServerContext) async throws -> Response {
        let tenant = try context.requireTenant()
        let q = request.uri.queryParameters
        let limit = try Self.limit(q["limit"].map(String.init), default: 10_000, max: 10_000)
        let page = try registry.files(tenantID: tenant.id, purpose: q["purpose"].map(String.init), after: q["after"].map(String.init), limit: limit + 1)
        return try .json(ListPage(page, limit: limit, id: \.id, FileObject.init))
    }

    func get(_ request: Request, _ context: ServerContext) async throws -> Response {
        try .json(FileObject(try record(context)))
    }

    func content(_ request: Request, _ context: ServerContext) async throws -> Response {
        let file = try record(context)
        let url = try jobs.files.url(file.id)
        let data = try await onWorkerThread { try Data(contentsOf: url) }
        return Response(status: .ok, headers: [.contentType: "application/octet-stream"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    func delete(_ request: Request, _ context: ServerContext) async throws -> Response {
        let tenant = try context.requireTenant()
        let file = try record(context)
        guard try registry.deleteFile(tenantID: tenant.id, id: file.id) else { throw Self.notFound(file.id) }  // the row first, then the file
        try? jobs.files.delete(id: file.id)
        return try .json(Deleted(id: file.id))
    }

    struct Deleted: Encodable {
        var id: String
        var object = "file"
        var deleted = true
    }

    private func record(_ context: ServerContext) throws -> FileRecord {
        let tenant = try context.requireTenant()
        let id = context.parameters.get("id") ?? ""
        guard BlobStore.isValidID(id), let f = try registry.file(tenantID: tenant.id, id: id) else { throw Self.notFound(id) }
        return f
    }

    static func notFound(_ id: String) -> APIError {
        APIError(.notFound, "No such File object: \(id)", param: "id", code: "file_not_found")
    }

    static func limit(_ text: String?, default value: Int, max: Int) throws(APIError) -> Int {
        guard let text else { return value }
        guard let n = Int(text), (1...max).contains(n) else { throw APIError.invalid("limit must be an integer in 1...\(max)", param: "limit") }
        return n
    }
}
