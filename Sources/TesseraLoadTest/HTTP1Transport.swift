import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// HTTP/1.1 through AsyncHTTPClient: a keep-alive pool with up to `connections` sockets to the server, on one event
/// loop thread of its own, so the client's CPU use stays one measurable thread.
public final class HTTP1Transport: Transport {
    private let client: HTTPClient
    private let group: MultiThreadedEventLoopGroup
    private let base: BaseURL
    private let retried = Atomic<Int>(0)
    /// A request is sent again when the kept-alive connection it was given turns out to be closed by the server
    /// before any answer came: at most once per pooled connection (each may be stale) and once more.
    private let staleConnectionRetries: Int

    public init(base: BaseURL, connections: Int) {
        self.base = base
        staleConnectionRetries = max(connections, 1) + 1
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
        var attempt = 0
        let response: HTTPClientResponse
        while true {
            do {
                response = try await client.execute(request, timeout: .hours(24))
                break
            } catch where attempt < staleConnectionRetries && Self.isStaleConnection(error) && !Task.isCancelled {
                attempt += 1
                retried.add(1, ordering: .relaxed)
            }
        }
        let iterator = IteratorBox(response.body.makeAsyncIterator())
        return HTTPStreamingResponse(status: Int(response.status.code)) {
            guard var buffer = try await iterator.next() else { return nil }
            return buffer.readBytes(length: buffer.readableBytes) ?? []
        }
    }

    /// Servers may close a kept-alive connection right after a response (llama.cpp's server does so after every
    /// stream, while its headers say keep-alive); the pool can hand that connection to the next request before the
    /// close is seen, and the request fails with nothing sent back. Nothing was answered, so nothing was lost but
    /// the connection: the request is not the server's failure and is sent again (as browsers and Go's client do
    /// for a request that got no response on a reused connection). When the request's bytes reach the closed
    /// socket before the client sees the close, the kernel answers with a reset: ECONNRESET on the read, or EPIPE
    /// on the write, again with no response head read.
    static func isStaleConnection(_ error: any Error) -> Bool {
        if let e = error as? HTTPClientError { return e == .remoteConnectionClosed }
        if let e = error as? ChannelError { return e == .ioOnClosedChannel || e == .outputClosed || e == .eof }
        if let e = error as? IOError { return e.errnoCode == ECONNRESET || e.errnoCode == EPIPE }
        return false
    }

    public var retriedRequests: Int { retried.load(ordering: .relaxed) }

    public func shutdown() async {
        try? await client.shutdown()
        try? await group.shutdownGracefully()
    }
}
