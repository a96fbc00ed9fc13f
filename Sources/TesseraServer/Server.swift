import Foundation
import Hummingbird
import HummingbirdCore
import Logging

/// The HTTP API: one function builds the router, so tests run the same routes in-process (Hummingbird's habit,
/// DESIGN 7).
public func buildRouter(_ backend: Backend) -> Router<ServerContext> {
    let router = Router(context: ServerContext.self)
    router.add(middleware: RequestIDMiddleware())
    // Liveness (the process answers) and readiness (it should get traffic) are apart: a replica loading its model,
    // draining, or cut off from a shared registry is alive but not ready, and must not be restarted for it.
    router.get("/health") { _, _ in Response(status: .ok) }
    router.get("/ready") { _, _ in
        if let reason = backend.notReadyReason() { throw APIError(.serviceUnavailable, reason) }
        return Response(status: .ok)
    }
    router.get("/metrics") { _, _ in
        let state = try backend.ready()
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                        body: .init(byteBuffer: ByteBuffer(string: state.metrics.render(engine: state.engine))))
    }
    let api = router.group().add(middleware: AuthMiddleware(backend: backend))
    api.get("/v1/models") { try await ModelRoutes(state: try backend.ready()).models($0, $1) }
    api.post("/tokenize") { try await ModelRoutes(state: try backend.ready()).tokenize($0, $1) }
    api.post("/detokenize") { try await ModelRoutes(state: try backend.ready()).detokenize($0, $1) }
    api.post("/v1/completions") { try await CompletionRoutes(state: try backend.ready()).completions($0, $1) }
    api.post("/v1/chat/completions") { try await ChatRoutes(state: try backend.ready()).chat($0, $1) }
    api.post("/v1/adapters") { try await AdapterRoutes(state: try backend.ready()).upload($0, $1) }
    api.get("/v1/adapters") { try await AdapterRoutes(state: try backend.ready()).list($0, $1) }
    api.get("/v1/adapters/:name") { try await AdapterRoutes(state: try backend.ready()).get($0, $1) }
    api.delete("/v1/adapters/:name") { try await AdapterRoutes(state: try backend.ready(), jobs: backend.jobs).delete($0, $1) }
    api.get("/v1/models/:name") { try await ModelRoutes(state: try backend.ready()).model($0, $1) }
    api.delete("/v1/models/:name") { try await AdapterRoutes(state: try backend.ready(), jobs: backend.jobs).delete($0, $1) }
    api.post("/v1/files") { try await FileRoutes(jobs: try backend.trainingJobs()).upload($0, $1) }
    api.get("/v1/files") { try await FileRoutes(jobs: try backend.trainingJobs()).list($0, $1) }
    api.get("/v1/files/:id") { try await FileRoutes(jobs: try backend.trainingJobs()).get($0, $1) }
    api.get("/v1/files/:id/content") { try await FileRoutes(jobs: try backend.trainingJobs()).content($0, $1) }
    api.delete("/v1/files/:id") { try await FileRoutes(jobs: try backend.trainingJobs()).delete($0, $1) }
    @Sendable func fineTuning() throws -> FineTuningRoutes { FineTuningRoutes(jobs: try backend.trainingJobs(), modelID: try backend.ready().modelID) }
    api.post("/v1/fine_tuning/jobs") { try await fineTuning().create($0, $1) }
    api.get("/v1/fine_tuning/jobs") { try await fineTuning().list($0, $1) }
    api.get("/v1/fine_tuning/jobs/:id") { try await fineTuning().get($0, $1) }
    api.post("/v1/fine_tuning/jobs/:id/cancel") { try await fineTuning().cancel($0, $1) }
    api.get("/v1/fine_tuning/jobs/:id/events") { try await fineTuning().events($0, $1) }
    api.get("/v1/fine_tuning/jobs/:id/checkpoints") { try await fineTuning().checkpoints($0, $1) }
    let admin = router.group("/admin").add(middleware: AdminMiddleware(adminKey: backend.adminKey))
    let tenants = AdminRoutes(registry: backend.registry)
    admin.post("/tenants") { try await tenants.create($0, $1) }
    admin.get("/tenants") { try await tenants.list($0, $1) }
    admin.patch("/tenants/:name") { try await tenants.update($0, $1) }
    admin.post("/tenants/:name/rotate_key") { try await tenants.rotate($0, $1) }
    admin.post("/tenants/:name/revoke") { try await tenants.revoke($0, $1) }
    let vllmAdmin = router.group("/v1").add(middleware: AdminMiddleware(adminKey: backend.adminKey))
    vllmAdmin.post("/load_lora_adapter") { try await LoRAAdminRoutes(state: try backend.ready(), root: backend.loraDirectory).load($0, $1) }
    vllmAdmin.post("/unload_lora_adapter") { try await LoRAAdminRoutes(state: try backend.ready(), root: backend.loraDirectory).unload($0, $1) }
    return router
}

/// HTTP/1.1 with a `HangUpDetector` on every connection (so abandoned requests are cancelled) and an idle timeout
/// for connections that send nothing (between requests, or a request that stalls half-sent).
public func httpServer(idleTimeoutSeconds: Double = 60) -> HTTPServerBuilder {
    .http1(configuration: .init(additionalChannelHandlers: [HangUpDetector()],
                                idleTimeout: idleTimeoutSeconds > 0 ? .milliseconds(Int64(idleTimeoutSeconds * 1000)) : nil))
}
