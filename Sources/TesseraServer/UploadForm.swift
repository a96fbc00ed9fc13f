import Foundation
import Hummingbird
import MultipartKit

/// A `multipart/form-data` body read as it arrives, bounded in bytes and parts (413 past the byte limit).
struct UploadForm {
    var parts: [String: Data] = [:]

    static func read(_ request: Request, limit: Int) async throws -> UploadForm {
        guard let type = request.headers[.contentType], type.lowercased().hasPrefix("multipart/form-data") else {
            throw APIError.invalid("upload as multipart/form-data (fields 'name', and 'adapter_config' + 'adapter_model' or 'file')")
        }
        guard let boundary = Self.boundary(type) else { throw APIError.invalid("multipart/form-data without a valid boundary") }
        let parser = MultipartParser(boundary: boundary)
        var form = UploadForm()
        var current: (name: String?, data: Data) = (nil, Data())
        var partOpen = false
        var failure: APIError?
        parser.onHeader = { field, value in
            partOpen = true
            if field.lowercased() == "content-disposition" { current.name = Self.parameter("name", in: value) }
        }
        parser.onBody = { buffer in
            partOpen = true
            current.data.append(contentsOf: buffer.readableBytesView)
        }
        parser.onPartComplete = {
            defer { current = (nil, Data()); partOpen = false }
            guard let name = current.name else { failure = failure ?? .invalid("a multipart part has no name"); return }
            guard form.parts[name] == nil else { failure = failure ?? .invalid("multipart field '\(name)' appears twice"); return }
            guard form.parts.count < 8 else { failure = failure ?? .invalid("too many multipart fields"); return }
            form.parts[name] = current.data
        }
        var total = 0
        for try await chunk in request.body {
            total += chunk.readableBytes
            guard total <= limit else { throw APIError(.contentTooLarge, "upload is over the limit of \(limit) bytes") }
            do { try parser.execute(chunk) } catch { throw APIError.invalid("malformed multipart/form-data body") }
            if let failure { throw failure }
        }
        guard !partOpen else { throw APIError.invalid("truncated multipart/form-data body") }
        return form
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
