import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import NIOPosix

/// HTTP/1.1 through AsyncHTTPClient: a keep-alive pool with up to `connections` sockets to the server, on one event
/// loop thread of its own, so the client's CPU use stays one measurable thread.
public final class HTTP1Transport: Transport {
    private let client: HTTPClient
    private let group: MultiThreadedEventLoopGroup
    private let base: BaseURL

    public init(base: BaseURL, connections: Int) {
        self.base = base
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var config = HTTPClient.Configuration()
        config.httpVersion = .http1Only
        config.connectionPool = .init(idleTimeout: .seconds(120), concurrentHTTP1ConnectionsPerHostSoftLimit: max(connections, 1))
        // A refused or unreachable server fails its requests after this, not after the request timeout.
        config.timeout = .init(connect: .seconds(5))
        config.decompression = .disabled
        client = HTTPClient(eventLoopGroup: group, configuration: config)
    }

    public func send(_ spec: HTTPRequestSpec) async throws -> HTTPStreamingResponse {
        var request = HTTPClientRequest(url: base.origin + base.pathPrefix + spec.path)
        request.method = HTTPMethod(rawValue: spec.method)
        for (name, value) in spec.headers { request.headers.add(name: name, value: value) }
        if !spec.body.isEmpty { request.body = .bytes(ByteBuffer(bytes: spec.body)) }
        let response = try await client.execute(request, timeout: .hours(24))
        let iterator = IteratorBox(response.body.makeAsyncIterator())
        return HTTPStreamingResponse(status: Int(response.status.code)) {
            guard var buffer = try await iterator.next() else { return nil }
            return buffer.readBytes(length: buffer.readableBytes) ?? []
        }
    }

    public func shutdown() async {
        try? await client.shutdown()
        try? await group.shutdownGracefully()
    }
}
