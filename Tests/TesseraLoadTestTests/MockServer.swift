import Foundation
import Hummingbird
import HummingbirdHTTP2
import NIOCore
import NIOHTTPTypes

/// An OpenAI-compatible server with a Tessera-like adapters and admin API, in process, over HTTP/1.1 or cleartext
/// HTTP/2. It streams `max_tokens` chunks a few milliseconds apart, and records what the load tester sent.
/// Models named `fail-429`, `no-choices` and `hang` answer with a rate-limit error, a stream without choices and
/// nothing at all.
final class MockServer: @unchecked Sendable {
    struct Call: Sendable {
        var model: String
        var key: String?
        var requestID: String?
        var promptLength: Int
        var maxTokens: Int
        var ignoreEOS: Bool
    }

    private let lock = NSLock()
    private var _calls: [Call] = []
    private var _uploads: [(key: String?, name: String, bytes: Int)] = []
    private var _deletes: [(key: String?, name: String)] = []
    private var _tenants: [String] = []
    private var _revoked: [String] = []
    private var task: Task<Void, any Error>?
    private(set) var port = 0

    var calls: [Call] { lock.withLock { _calls } }
    var uploads: [(key: String?, name: String, bytes: Int)] { lock.withLock { _uploads } }
    var deletes: [(key: String?, name: String)] { lock.withLock { _deletes } }
    var tenants: [String] { lock.withLock { _tenants } }
    var revoked: [String] { lock.withLock { _revoked } }

    /// `idleTimeout`: HTTP/2 connections idle that long are closed by the server (GOAWAY). `closeAfterResponse`:
    /// every HTTP/1.1 connection is closed right after its first response, without a `Connection: close` header
    /// (as llama.cpp's server does after a stream).
    static func start(http2: Bool, idleTimeout: Duration? = nil, closeAfterResponse: Bool = false) async throws -> MockServer {
        let server = MockServer()
        let router = Router()
        server.routes(router)
        let (ready, readyContinuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router,
            server: http2 ? .plaintextHTTP2(configuration: .init(idleTimeout: idleTimeout))
                : .http1(configuration: .init(additionalChannelHandlers: closeAfterResponse ? [CloseAfterResponse()] : [])),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in readyContinuation.yield(channel.localAddress?.port ?? 0) })
        server.task = Task { try await app.run() }
        for await port in ready {
            server.port = port
            break
        }
        return server
    }

    func stop() async {
        task?.cancel()
        _ = try? await task?.value
    }

    var baseURL: String { "http://127.0.0.1:\(port)" }

    private func routes(_ router: Router<BasicRequestContext>) {
        router.get("/v1/models") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"object":"list","data":[{"id":"mock-base","object":"model"}]}"#)))
        }
        router.post("/v1/completions") { request, _ in try await self.complete(request, chat: false) }
        router.post("/v1/chat/completions") { request, _ in try await self.complete(request, chat: true) }
        router.post("/v1/adapters") { request, _ in
            let body = try await request.body.collect(upTo: 64 << 20)
            let text = String(decoding: body.readableBytesView, as: UTF8.self)
            guard let range = text.range(of: "name=\"name\"\r\n\r\n"), let end = text[range.upperBound...].range(of: "\r\n") else {
                return Response(status: .badRequest)
            }
            let name = String(text[range.upperBound..<end.lowerBound])
            guard text.contains("filename=\"adapter_model.safetensors\""), text.contains("\"peft_type\":\"LORA\"") else { return Response(status: .unprocessableContent) }
            self.lock.withLock { self._uploads.append((Self.key(request), name, body.readableBytes)) }
            return Response(status: .created)
        }
        router.delete("/v1/adapters/:name") { request, context in
            self.lock.withLock { self._deletes.append((Self.key(request), context.parameters.get("name") ?? "")) }
            return Response(status: .ok)
        }
        router.post("/admin/tenants") { request, _ in
            let body = try await request.body.collect(upTo: 1 << 20)
            let o = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]
            let name = o?["name"] as? String ?? "?"
            guard Self.key(request) == "admin-key" else { return Response(status: .unauthorized) }
            self.lock.withLock { self._tenants.append(name) }
            return Response(status: .created, headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(string: #"{"name":"\#(name)","api_key":"key-\#(name)"}"#)))
        }
        router.post("/admin/tenants/:name/revoke") { request, context in
            self.lock.withLock { self._revoked.append(context.parameters.get("name") ?? "") }
            return Response(status: .ok)
        }
    }

    private static func key(_ request: Request) -> String? {
        request.headers[.authorization].map { String($0.dropFirst("Bearer ".count)) }
    }

    private func complete(_ request: Request, chat: Bool) async throws -> Response {
        let body = try await request.body.collect(upTo: 16 << 20)
        guard let o = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
              let model = o["model"] as? String, let maxTokens = o["max_tokens"] as? Int else { return Response(status: .badRequest) }
        let promptLength: Int
        if chat {
            let content = ((o["messages"] as? [[String: Any]])?.first?["content"] as? String) ?? ""
            promptLength = content.split(separator: " ").count
        } else if let ids = o["prompt"] as? [Int] {
            promptLength = ids.count
        } else {
            promptLength = ((o["prompt"] as? String) ?? "").split(separator: " ").count
        }
        let requestID = request.headers[.init("x-request-id")!]
        lock.withLock {
            _calls.append(Call(model: model, key: Self.key(request), requestID: requestID, promptLength: promptLength,
                               maxTokens: maxTokens, ignoreEOS: o["ignore_eos"] as? Bool ?? false))
        }
        switch model {
        case "fail-429":
            return Response(status: .tooManyRequests, headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(string: #"{"error":{"message":"slow down","type":"rate_limit_exceeded"}}"#)))
        case "hang":
            try await Task.sleep(for: .seconds(30))
        default: break
        }
        let object = chat ? "chat.completion.chunk" : "text_completion"
        return Response(status: .ok, headers: [.contentType: "text/event-stream"], body: .init { writer in
            func send(_ json: String) async throws { try await writer.write(ByteBuffer(string: "data: \(json)\n\n")) }
            if model != "no-choices" {
                if chat { try await send(#"{"object":"\#(object)","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#) }
                for i in 0..<maxTokens {
                    try await Task.sleep(for: .milliseconds(2))
                    let choice = chat ? #"{"index":0,"delta":{"content":"t\#(i) "}}"# : #"{"index":0,"text":"t\#(i) "}"#
                    try await send(#"{"object":"\#(object)","choices":[\#(choice)]}"#)
                }
            }
            try await send(#"{"object":"\#(object)","choices":[],"usage":{"prompt_tokens":\#(promptLength),"completion_tokens":\#(model == "no-choices" ? 0 : maxTokens)}}"#)
            try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
            try await writer.finish(nil)
        })
    }
}

/// Closes the connection once a response has been written, saying nothing about it beforehand.
final class CloseAfterResponse: ChannelOutboundHandler, RemovableChannelHandler, Sendable {
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .end = unwrapOutboundIn(data) else { return context.write(data, promise: promise) }
        context.writeAndFlush(data, promise: promise)
        context.close(promise: nil)
    }
}
