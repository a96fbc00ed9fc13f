import Foundation
import NIOCore

/// The server's parsers of what clients send, callable without a connection: the fuzz targets (`Fuzz/`) and their
/// regression tests drive them with arbitrary bytes. Each returns normally or throws `APIError`; anything else (a
/// crash, a hang, a sanitizer report) is a bug.
public enum UntrustedInput {
    /// The JSON bodies of the OpenAI routes and the admin API, decoded as the routes decode them.
    public static func decodeRequestBodies(_ data: Data) {
        _ = try? RequestBody.decode(CompletionRequest.self, from: data)
        _ = try? RequestBody.decode(ChatRequest.self, from: data)
        _ = try? RequestBody.decode(AdminRoutes.Settings.self, from: data)
    }

    /// A multipart/form-data upload: the first line is the Content-Type header's value, the rest the body, fed to
    /// the parser in up to three pieces cut where the bytes say. Returns the fields read.
    @discardableResult
    public static func parseUploadForm(_ data: Data) throws(APIError) -> [String: Data] {
        let newline = data.firstIndex(of: 0x0a) ?? data.endIndex
        let contentType = String(decoding: data[data.startIndex..<newline], as: UTF8.self)
        let body = newline < data.endIndex ? data[(newline + 1)...] : Data()[...]
        var parser = try UploadForm.Parser(contentType: contentType)
        let cut = body.isEmpty ? 0 : Int(body[body.startIndex]) % (body.count + 1)
        let pieces = [body.prefix(cut), body.dropFirst(cut).prefix(cut), body.dropFirst(2 * cut)]
        for piece in pieces where !piece.isEmpty { try parser.feed(ByteBuffer(bytes: piece)) }
        return try parser.finish().parts
    }
}
