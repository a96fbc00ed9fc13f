import Foundation
import Hummingbird

/// Server-Sent Events as OpenAI streams them: `data: <json>\n\n` per chunk, then `data: [DONE]\n\n`.
enum SSE {
    static let headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache"]

    static func event(_ value: some Encodable) -> ByteBuffer {
        let json = (try? JSONEncoder().encode(value)) ?? Data("{}".utf8)
        var b = ByteBuffer()
        b.writeString("data: ")
        b.writeBytes(json)
        b.writeString("\n\n")
        return b
    }

    static let done = ByteBuffer(string: "data: [DONE]\n\n")

    /// An error after the stream began: one chunk in the error shape (the status line was already sent).
    static func error(_ e: APIError) -> ByteBuffer {
        event(APIError.Body(error: .init(message: e.message, type: e.type, param: e.param, code: e.code)))
    }
}

extension Response {
    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try JSONEncoder().encode(value)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
