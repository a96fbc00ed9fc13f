import Foundation
import Hummingbird

/// A `multipart/form-data` body (RFC 7578), bounded in bytes, parts and header sizes (413 past the byte limit).
///
/// Parsed here rather than with MultipartKit: its 4.7.1 parser indexes a 128-entry table with every header-name
/// byte, so one byte of 0x80 or more in a part's header traps and takes the server down (found by `make fuzz`,
/// kept as `Fuzz/regressions/multipart/`). Delimiters are searched in linear time whatever the bytes (Knuth-Morris-Pratt),
/// so no body can make the search quadratic.
struct UploadForm {
    var parts: [String: Data] = [:]
    /// The `filename` a part's Content-Disposition gave, where it gave one.
    var filenames: [String: String] = [:]

    static let maxParts = 8
    static let maxHeaderBytes = 8 << 10

    static func read(_ request: Request, limit: Int) async throws -> UploadForm {
        let boundary = try Self.boundary(contentType: request.headers[.contentType])
        return try parse(try await RequestBody.collect(request, limit: limit, what: "upload"), boundary: boundary)
    }

    /// The boundary of a `multipart/form-data` Content-Type.
    static func boundary(contentType: String?) throws(APIError) -> String {
        guard let type = contentType, type.lowercased().hasPrefix("multipart/form-data") else {
            throw APIError.invalid("upload as multipart/form-data (fields 'name', and 'adapter_config' + 'adapter_model' or 'file')")
        }
        guard let boundary = Self.boundary(type) else { throw APIError.invalid("multipart/form-data without a valid boundary") }
        return boundary
    }

    static func parse(_ body: Data, boundary: String) throws(APIError) -> UploadForm {
        let delimiter = Array(("--" + boundary).utf8)
        let crlfDelimiter = Array("\r\n".utf8) + delimiter
        var form = UploadForm()
        // The first delimiter opens the body (a preamble before it is allowed and ignored).
        guard var at = body.starts(with: delimiter) ? 0 : find(crlfDelimiter, in: body, from: 0).map({ $0 + 2 }) else {
            throw APIError.invalid("malformed multipart/form-data body: no boundary '\(boundary)'")
        }
        while true {
            at += delimiter.count
            if body.count - at >= 2, body[at] == 0x2d, body[at + 1] == 0x2d { return form }  // "--": the close delimiter
            while at < body.count, body[at] == 0x20 || body[at] == 0x09 { at += 1 }  // transport padding
            guard body.count - at >= 2, body[at] == 0x0d, body[at + 1] == 0x0a else {
                throw APIError.invalid(at >= body.count ? "truncated multipart/form-data body" : "malformed multipart/form-data body: a boundary line does not end with CRLF")
            }
            at += 2
            guard let headersEnd = find(Array("\r\n\r\n".utf8), in: body, from: at, within: maxHeaderBytes + 4) else {
                throw APIError.invalid(body.count - at <= maxHeaderBytes ? "truncated multipart/form-data body"
                                       : "a multipart part's headers are over \(maxHeaderBytes) bytes")
            }
            let (name, filename) = try partName(headers: body[at..<headersEnd])
            let start = headersEnd + 4
            guard let end = find(crlfDelimiter, in: body, from: start) else { throw APIError.invalid("truncated multipart/form-data body") }
            guard form.parts[name] == nil else { throw APIError.invalid("multipart field '\(name)' appears twice") }
            guard form.parts.count < maxParts else { throw APIError.invalid("too many multipart fields (at most \(maxParts))") }
            form.parts[name] = Data(body[start..<end])
            form.filenames[name] = filename
            at = end + 2
        }
    }

    /// The `name` (and `filename`) of a part's Content-Disposition; every header line must be `token: value`.
    private static func partName(headers: Data) throws(APIError) -> (String, String?) {
        var name: String?, filename: String?
        for line in headers.split(separator: 0x0a, omittingEmptySubsequences: false) {
            var line = line
            if line.last == 0x0d { line = line.dropLast() }
            guard let colon = line.firstIndex(of: 0x3a), colon > line.startIndex,
                  line[..<colon].allSatisfy({ isTokenByte($0) }) else {
                throw APIError.invalid("malformed multipart/form-data body: a part header is not 'Name: value'")
            }
            let field = String(decoding: line[..<colon], as: UTF8.self)
            if field.lowercased() == "content-disposition" {
                let value = String(decoding: line[(colon + 1)...], as: UTF8.self)
                name = Self.parameter("name", in: value)
                filename = Self.parameter("filename", in: value)
            }
        }
        guard let name, !name.isEmpty else { throw APIError.invalid("a multipart part has no name") }
        return (name, filename)
    }

    /// RFC 9110 token characters.
    private static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case 0x30...0x39, 0x41...0x5a, 0x61...0x7a: true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
             UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
             UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"): true
        default: false
        }
    }

    /// The first `needle` in `data` at or after `from` (starting at most `within` bytes later when given).
    private static func find(_ needle: [UInt8], in data: Data, from: Int, within: Int? = nil) -> Int? {
        guard from <= data.count, !needle.isEmpty else { return nil }
        let end = within.map { min(data.count, from + $0) } ?? data.count
        // fail[i]: length of the longest proper prefix of needle[0...i] that is also its suffix.
        var fail = [Int](repeating: 0, count: needle.count)
        var k = 0
        for i in 1..<needle.count {
            while k > 0 && needle[i] != needle[k] { k = fail[k - 1] }
            if needle[i] == needle[k] { k += 1 }
            fail[i] = k
        }
        return data.withUnsafeBytes { raw -> Int? in
            var matched = 0
            for i in from..<end {
                let b = raw[i]
                while matched > 0 && b != needle[matched] { matched = fail[matched - 1] }
                if b == needle[matched] { matched += 1 }
                if matched == needle.count { return i - needle.count + 1 }
            }
            return nil
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
