import Foundation

/// A `multipart/form-data` body (RFC 7578): text fields and files, for the adapters API.
struct Multipart {
    let boundary = "tessera-loadtest-" + String(UInt64.random(in: 0..<UInt64.max), radix: 36)
    private(set) var body: [UInt8] = []

    var contentType: String { "multipart/form-data; boundary=\(boundary)" }

    mutating func field(_ name: String, _ value: String) {
        body += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n".utf8)
    }

    mutating func file(_ name: String, filename: String, type: String, _ data: [UInt8]) {
        body += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"; filename=\"\(filename)\"\r\nContent-Type: \(type)\r\n\r\n".utf8)
        body += data
        body += Array("\r\n".utf8)
    }

    func finished() -> [UInt8] { body + Array("--\(boundary)--\r\n".utf8) }
}
