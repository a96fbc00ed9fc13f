import Foundation
import Hummingbird
import MultipartKit

/// A `multipart/form-data` body read as it arrives, bounded in bytes and parts (413 past the byte limit).
struct UploadForm {
    var parts: [String: Data] = [:]

    static func read(_ request: Request, limit: Int) async throws -> UploadForm {
        var parser = try Parser(contentType: request.headers[.contentType])
        var total = 0
        for try await chunk in request.body {
            total += chunk.readableBytes
            guard total <= limit else { throw APIError(.contentTooLarge, "upload is over the limit of \(limit) bytes") }
            try parser.feed(chunk)
        }
        return try parser.finish()
    }

    /// The form as its bytes arrive, in any pieces.
    struct Parser {
        private final class Collected {
            var form = UploadForm()
            var current: (name: String?, data: Data) = (nil, Data())
            var partOpen = false
            var failure: APIError?
        }

        private let parser: MultipartParser
        private let collected = Collected()

        init(contentType: String?) throws(APIError) {
            guard let type = contentType, type.lowercased().hasPrefix("multipart/form-data") else {
                throw APIError.invalid("upload as multipart/form-data (fields 'name', and 'adapter_config' + 'adapter_model' or 'file')")
            }
            guard let boundary = UploadForm.boundary(type) else { throw APIError.invalid("multipart/form-data without a valid boundary") }
            parser = MultipartParser(boundary: boundary)
            let c = collected
            parser.onHeader = { field, value in
                c.partOpen = true
                if field.lowercased() == "content-disposition" { c.current.name = UploadForm.parameter("name", in: value) }
            }
            parser.onBody = { buffer in
                c.partOpen = true
                c.current.data.append(contentsOf: buffer.readableBytesView)
            }
            parser.onPartComplete = {
                defer { c.current = (nil, Data()); c.partOpen = false }
                guard let name = c.current.name else { c.failure = c.failure ?? .invalid("a multipart part has no name"); return }
                guard c.form.parts[name] == nil else { c.failure = c.failure ?? .invalid("multipart field '\(name)' appears twice"); return }
                guard c.form.parts.count < 8 else { c.failure = c.failure ?? .invalid("too many multipart fields"); return }
                c.form.parts[name] = c.current.data
            }
        }

        mutating func feed(_ chunk: ByteBuffer) throws(APIError) {
            do { try parser.execute(chunk) } catch { throw APIError.invalid("malformed multipart/form-data body") }
            if let failure = collected.failure { throw failure }
        }

        func finish() throws(APIError) -> UploadForm {
            guard !collected.partOpen else { throw APIError.invalid("truncated multipart/form-data body") }
            return collected.form
        }
    }

    /// The boundary parameter (quoted or not), 1-70 characters as RFC 2046 allows.
    static func boundary(_ contentType: String) -> String? {
        guard let b = parameter("boundary", in: contentType), (1...70).contains(b.utf8.count) else { return nil }
        return b
    }

    static func parameter(_ key: String, in header: String) -> String? {
        for piece in header.split(separator: ";").dropFirst() {
            let kv = piece.trimmingCharacters(in: .whitespaces)
            guard kv.lowercased().hasPrefix(key + "=") else { continue }
            var value = String(kv.dropFirst(key.count + 1))
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            return value
        }
        return nil
    }
}
