import Hummingbird
import NIOCore

/// Per-request context: the authenticated tenant (set by `AuthMiddleware`), the request id and the connection (to
/// notice a client that hangs up).
public struct ServerContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var tenant: Tenant?
    public var requestID = ""
    let channel: (any Channel)?

    public init(source: Source) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// The tenant, or 401 (routes behind `AuthMiddleware` always have one).
    func requireTenant() throws -> Tenant {
        guard let tenant else { throw APIError(.unauthorized, "missing API key") }
        return tenant
    }
}
