/// A request as the client sends it; the transport adds the host.
public struct HTTPRequestSpec: Sendable {
    public var method: String
    public var path: String
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(method: String, path: String, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.method = method; self.path = path; self.headers = headers; self.body = body
    }
}

/// A response whose body arrives in pieces; `next()` returns nil at its end. Read by one task at a time.
public final class HTTPStreamingResponse: @unchecked Sendable {
    public let status: Int
    private let nextChunk: () async throws -> [UInt8]?

    public init(status: Int, next: @escaping () async throws -> [UInt8]?) {
        self.status = status
        nextChunk = next
    }

    public func next() async throws -> [UInt8]? { try await nextChunk() }

    /// The whole body (error responses, JSON answers), at most `limit` bytes.
    public func collect(limit: Int = 16 << 20) async throws -> [UInt8] {
        var out: [UInt8] = []
        while let c = try await next() {
            out += c
            if out.count > limit { throw LoadTestError("response body larger than \(limit) bytes") }
        }
        return out
    }
}

/// A response body's iterator, read by the one task that runs the request (iterators are not Sendable).
final class IteratorBox<Base: AsyncIteratorProtocol>: @unchecked Sendable {
    private var base: Base
    init(_ base: Base) { self.base = base }
    func next() async throws -> Base.Element? { try await base.next() }
}

/// HTTP/1.1 (a keep-alive pool) or HTTP/2 (streams on one connection); the load test does not care which.
public protocol Transport: Sendable {
    /// Cancelling the calling task abandons the request (HTTP/1.1 closes the connection, HTTP/2 resets the stream).
    func send(_ request: HTTPRequestSpec) async throws -> HTTPStreamingResponse
    func shutdown() async
    /// Requests sent again because the server had closed the connection they were given (not failures).
    var retriedRequests: Int { get }
}

extension Transport {
    public var retriedRequests: Int { 0 }
}

/// Splits `http://host:port/prefix` into its parts; only plain http (a load tester runs beside the server or its
/// gateway; TLS would make the client's own CPU the first bottleneck).
public struct BaseURL: Sendable, Equatable {
    public var scheme: String
    public var host: String
    public var port: Int
    public var pathPrefix: String

    public init(_ text: String) throws(LoadTestError) {
        var rest = Substring(text)
        guard let sep = rest.range(of: "://") else { throw LoadTestError("base URL \(text) needs a scheme, like http://127.0.0.1:8080") }
        scheme = String(rest[..<sep.lowerBound]).lowercased()
        guard scheme == "http" else { throw LoadTestError("base URL \(text): only http:// is supported") }
        rest = rest[sep.upperBound...]
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<slash]
        var prefix = String(rest[slash...])
        while prefix.hasSuffix("/") { prefix.removeLast() }
        pathPrefix = prefix
        if let colon = authority.lastIndex(of: ":"), !authority.hasSuffix("]") {
            host = String(authority[..<colon])
            guard let p = Int(authority[authority.index(after: colon)...]), (1...65535).contains(p) else {
                throw LoadTestError("base URL \(text): bad port")
            }
            port = p
        } else {
            host = String(authority)
            port = 80
        }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw LoadTestError("base URL \(text) has no host") }
    }

    public var origin: String { "\(scheme)://\(host.contains(":") ? "[\(host)]" : host):\(port)" }
}
