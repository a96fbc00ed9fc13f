import Foundation

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

    /// A multipart/form-data upload: the first line is the Content-Type header's value, the rest the body.
    /// Returns the fields read.
    @discardableResult
    public static func parseUploadForm(_ data: Data) throws(APIError) -> [String: Data] {
        let newline = data.firstIndex(of: 0x0a) ?? data.endIndex
        let contentType = String(decoding: data[data.startIndex..<newline], as: UTF8.self)
        let body = newline < data.endIndex ? Data(data[(newline + 1)...]) : Data()
        return try UploadForm.parse(body, boundary: UploadForm.boundary(contentType: contentType)).parts
    }
}
