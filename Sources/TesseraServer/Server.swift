import Foundation
import Hummingbird
import Logging

/// How `tessera serve` listens (the engine's limits are in `Engine.Configuration`).
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    public init() {}
}

/// The HTTP API over a serving state: one function builds the router, so tests run the same routes in-process
/// (Hummingbird's habit, DESIGN 7).
public func buildRouter(_ state: ServingState) -> Router<ServerContext> {
    let router = Router(context: ServerContext.self)
    router.add(middleware: RequestIDMiddleware())
    router.get("/health") { _, _ in Response(status: .ok) }
    let api = router.group().add(middleware: AuthMiddleware(registry: state.registry))
    let models = ModelRoutes(state: state)
    api.get("/v1/models") { try await models.models($0, $1) }
    api.post("/tokenize") { try await models.tokenize($0, $1) }
    api.post("/detokenize") { try await models.detokenize($0, $1) }
    let completions = CompletionRoutes(state: state), chat = ChatRoutes(state: state)
    api.post("/v1/completions") { try await completions.completions($0, $1) }
    api.post("/v1/chat/completions") { try await chat.chat($0, $1) }
    return router
}

public func buildApplication(_ state: ServingState, configuration: ServerConfiguration, logger: Logger) -> some ApplicationProtocol {
    Application(
        router: buildRouter(state),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "tessera"),
        logger: logger)
}
