import Hummingbird

/// Per-request context: the authenticated tenant (set by `AuthMiddleware`) and the request id.
public struct ServerContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var tenant: Tenant?
    public var requestID = ""

    public init(source: Source) {
        coreContext = .init(source: source)
    }

    /// The tenant, or 401 (routes behind `AuthMiddleware` always have one).
    func requireTenant() throws -> Tenant {
        guard let tenant else { throw APIError(.unauthorized, "missing API key") }
        return tenant
    }
}
