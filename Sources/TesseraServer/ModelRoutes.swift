import Foundation
import Hummingbird

/// `GET /v1/models`, `POST /tokenize`, `POST /detokenize` (vLLM's shapes for the last two).
struct ModelRoutes {
    let state: ServingState

    /// The base model first, then the caller's adapters (parent: the base).
    func models(_ request: Request, _ context: ServerContext) async throws -> Response {
        let tenant = try context.requireTenant()
        let base = ModelCard(id: state.modelID, created: state.created, owned_by: "tessera", parent: nil, root: state.modelID)
        let own = try state.registry.adapters(tenantID: tenant.id)
        let shared = try state.registry.adapters(tenantID: sharedTenantID).filter { s in !own.contains { $0.name == s.name } }
        let adapters = (own + shared).map {
            ModelCard(id: $0.name, created: Int($0.createdAt.timeIntervalSince1970), owned_by: $0.tenantID == tenant.id ? tenant.name : "shared",
                      parent: state.modelID, root: state.modelID)
        }
        return try .json(ModelList(data: [base] + adapters))
    }

    /// One model: the base, or one of the caller's adapters and fine-tuned models (or a shared adapter).
    func model(_ request: Request, _ context: ServerContext) async throws -> Response {
        let tenant = try context.requireTenant()
        let name = context.parameters.get("name") ?? ""
        if name == state.modelID {
            return try .json(ModelCard(id: state.modelID, created: state.created, owned_by: "tessera", parent: nil, root: state.modelID))
        }
        guard ModelName.isValid(name), let r = try state.registry.visibleAdapter(tenantID: tenant.id, name: name) else {
            throw APIError.notFound("The model '\(name)' does not exist or you do not have access to it.", param: "model")
        }
        return try .json(ModelCard(id: r.name, created: Int(r.createdAt.timeIntervalSince1970), owned_by: r.tenantID == tenant.id ? tenant.name : "shared",
                                   parent: state.modelID, root: state.modelID))
    }

    struct TokenizeRequest: Decodable {
        var model: String?
        var prompt: String?
        var add_special_tokens: Bool?
    }

    struct TokenizeResponse: Encodable {
        var tokens: [Int32]
        var count: Int
        var max_model_len: Int
    }

    func tokenize(_ request: Request, _ context: ServerContext) async throws -> Response {
        _ = try context.requireTenant()
        let body = try await RequestBody.decode(TokenizeRequest.self, from: request)
        guard let text = body.prompt else { throw APIError.invalid("missing required field 'prompt'", param: "prompt") }
        let tokens = state.tokenizer.encode(text, addSpecial: body.add_special_tokens ?? true)
        return try .json(TokenizeResponse(tokens: tokens, count: tokens.count, max_model_len: state.contextLength))
    }

    struct DetokenizeRequest: Decodable {
        var model: String?
        var tokens: [Int32]
    }

    struct DetokenizeResponse: Encodable {
        var prompt: String
    }

    func detokenize(_ request: Request, _ context: ServerContext) async throws -> Response {
        _ = try context.requireTenant()
        let body = try await RequestBody.decode(DetokenizeRequest.self, from: request)
        let vocab = state.model.config.vocab
        if let bad = body.tokens.first(where: { $0 < 0 || Int($0) >= vocab }) {
            throw APIError.invalid("token id \(bad) is outside the vocabulary of \(vocab)", param: "tokens")
        }
        return try .json(DetokenizeResponse(prompt: state.tokenizer.decode(body.tokens)))
    }
}
