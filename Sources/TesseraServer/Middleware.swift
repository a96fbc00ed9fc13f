import Foundation
import HTTPTypes
import Hummingbird

/// Gives every response an `x-request-id` (the client's, when it sent a sane one) and turns every error into the
/// OpenAI error shape, so no failure reaches the client as a bare status.
struct RequestIDMiddleware: RouterMiddleware {
    func handle(_ request: Request, context: ServerContext, next: (Request, ServerContext) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        var context = context
        let given = request.headers[.requestID].flatMap { id in
            id.utf8.count <= 128 && id.utf8.allSatisfy { (0x21...0x7e).contains($0) } ? id : nil
        }
        let id = given ?? "req-" + UUID().uuidString.lowercased()
        context.requestID = id
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as APIError {
            response = try error.response(from: request, context: context)
        } catch let error as RegistryError {
            // What reaches here is the registry itself failing (the database away), not the request: retry shortly.
            context.logger.error("request \(id) failed: \(error)")
            var e = APIError(.serviceUnavailable, "the registry is unavailable; retry shortly (request \(id))")
            e.headers[.retryAfter] = "1"
            response = try e.response(from: request, context: context)
        } catch let error as HTTPError {
            response = try APIError(error.status, error.body ?? error.status.reasonPhrase).response(from: request, context: context)
        } catch {
            context.logger.error("request \(id) failed: \(error)")
            response = try APIError(.internalServerError, "internal error (request \(id))").response(from: request, context: context)
        }
        response.headers[.requestID] = id
        // One structured line per request (streams are logged when their headers go out).
        context.logger.info("request", metadata: [
            "request_id": .string(id), "method": .string(request.method.rawValue), "path": .string(request.uri.path),
            "status": .stringConvertible(response.status.code),
            "ms": .stringConvertible(Int((ContinuousClock.now - start) / .milliseconds(1))),
        ])
        return response
    }
}

/// `Authorization: Bearer <key>` to a tenant; anything else is 401 before a route runs.
struct AuthMiddleware: RouterMiddleware {
    let backend: Backend
    var registry: Registry { backend.registry }

    func handle(_ request: Request, context: ServerContext, next: (Request, ServerContext) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            throw APIError(.unauthorized, "missing API key: send 'Authorization: Bearer <key>'", code: "invalid_api_key")
        }
        let key = String(header.dropFirst("Bearer ".count)).trimmingCharacters(in: .whitespaces)
        guard let tenant = try registry.tenant(forKey: key) else {
            throw APIError(.unauthorized, "incorrect API key provided", code: "invalid_api_key")
        }
        var context = context
        context.tenant = tenant
        context.logger[metadataKey: "tenant"] = .string(tenant.name)
        do {
            return try await next(request, context)
        } catch let error as APIError {
            backend.state?.metrics.error(tenant: tenant.name, code: error.code ?? String(error.status.code))
            throw error
        }
    }
}

extension HTTPField.Name {
    static let requestID = Self("x-request-id")!
    static let retryAfter = Self("retry-after")!
}
