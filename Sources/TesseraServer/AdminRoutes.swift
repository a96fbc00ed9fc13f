import Foundation
import Hummingbird

/// `/admin/tenants`: the platform team creates tenants, rotates and revokes their keys, and sets their weights and
/// limits. Behind `AdminMiddleware` (the `TESSERA_ADMIN_KEY`); off when no admin key is configured.
struct AdminRoutes {
    let registry: Registry

    struct TenantInfo: Encodable {
        var id: String
        var name: String
        var weight: Double
        var revoked: Bool
        var requests_per_minute: Int?
        var tokens_per_minute: Int?
        var max_concurrent: Int?
        var max_tokens: Int?
        var max_training_jobs: Int?
        var created_at: Int
        /// Only when a key was just made; never stored.
        var api_key: String?

        init(_ t: Tenant, key: String? = nil) {
            id = t.id
            name = t.name
            weight = t.weight
            revoked = t.revoked
            requests_per_minute = t.requestsPerMinute
            tokens_per_minute = t.tokensPerMinute
            max_concurrent = t.maxConcurrent
            max_tokens = t.maxTokens
            max_training_jobs = t.maxTrainingJobs
            created_at = Int(t.createdAt.timeIntervalSince1970)
            api_key = key
        }
    }

    /// Fields to set; a field sent as null clears that limit.
    struct Settings: Decodable {
        var name: String?
        var weight: Double?
        var limits: [String: Int?] = [:]

        enum CodingKeys: String, CodingKey, CaseIterable { case name, weight, requests_per_minute, tokens_per_minute, max_concurrent, max_tokens, max_training_jobs }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = try c.decodeIfPresent(String.self, forKey: .name)
            weight = try c.decodeIfPresent(Double.self, forKey: .weight)
            for key in [CodingKeys.requests_per_minute, .tokens_per_minute, .max_concurrent, .max_tokens, .max_training_jobs] where c.contains(key) {
                limits[key.rawValue] = try c.decodeNil(forKey: key) ? .some(nil) : try c.decode(Int.self, forKey: key)
            }
        }

        func apply(to t: inout Tenant) throws(RegistryError) {
            if let w = weight {
                guard w.isFinite, w > 0, w <= 1000 else { throw RegistryError("weight must be in (0, 1000], got \(w)") }
                t.weight = w
            }
            for (key, value) in limits {
                if let v = value, v < 1 { throw RegistryError("\(key) must be at least 1, or null for no limit") }
                switch key {
                case "requests_per_minute": t.requestsPerMinute = value
                case "tokens_per_minute": t.tokensPerMinute = value
                case "max_tokens": t.maxTokens = value
                case "max_training_jobs": t.maxTrainingJobs = value
                default: t.maxConcurrent = value
                }
            }
        }
    }

    func create(_ request: Request, _ context: ServerContext) async throws -> Response {
        let s = try await RequestBody.decode(Settings.self, from: request)
        guard let name = s.name else { throw APIError.invalid("missing required field 'name'", param: "name") }
        do {
            let (tenant, key) = try registry.createTenant(name: name, weight: s.weight ?? 1) { t throws(RegistryError) in try s.apply(to: &t) }
            return try .json(TenantInfo(tenant, key: key), status: .created)
        } catch let e as RegistryError {
            throw APIError.invalid(e.message)
        }
    }

    func list(_ request: Request, _ context: ServerContext) async throws -> Response {
        try .json(AdapterRoutes.List(data: try registry.tenants().map { TenantInfo($0) }))
    }

    func update(_ request: Request, _ context: ServerContext) async throws -> Response {
        let s = try await RequestBody.decode(Settings.self, from: request)
        let name = context.parameters.get("name") ?? ""
        do {
            guard let t = try registry.updateTenant(named: name, { t throws(RegistryError) in try s.apply(to: &t) }) else { throw notFound(name) }
            return try .json(TenantInfo(t))
        } catch let e as RegistryError {
            throw APIError.invalid(e.message)
        }
    }

    func rotate(_ request: Request, _ context: ServerContext) async throws -> Response {
        let name = context.parameters.get("name") ?? ""
        guard let key = try registry.rotateKey(named: name), let t = try registry.tenant(named: name) else { throw notFound(name) }
        return try .json(TenantInfo(t, key: key))
    }

    func revoke(_ request: Request, _ context: ServerContext) async throws -> Response {
        let name = context.parameters.get("name") ?? ""
        guard let t = try registry.updateTenant(named: name, { $0.revoked = true }) else { throw notFound(name) }
        return try .json(TenantInfo(t))
    }

    private func notFound(_ name: String) -> APIError { APIError(.notFound, "tenant '\(name)' not found", param: "name") }
}

/// `Authorization: Bearer <TESSERA_ADMIN_KEY>`, compared in constant time.
struct AdminMiddleware: RouterMiddleware {
    let adminKey: String?

    func handle(_ request: Request, context: ServerContext, next: (Request, ServerContext) async throws -> Response) async throws -> Response {
        guard let adminKey, !adminKey.isEmpty else {
            throw APIError(.notFound, "the admin API is off: set TESSERA_ADMIN_KEY to turn it on")
        }
        let given = request.headers[.authorization].map { String($0.dropFirst("Bearer ".count)) } ?? ""
        guard APIKey.matches(given, hash: APIKey.hash(adminKey)) else { throw APIError(.unauthorized, "admin key required", code: "invalid_api_key") }
        return try await next(request, context)
    }
}
