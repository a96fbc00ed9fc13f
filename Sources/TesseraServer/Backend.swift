import Dispatch
import Synchronization

/// What the routes serve from: the registry from the start, the model once it has loaded (until then `/ready` and
/// every model route answer 503, so a load balancer waits).
public final class Backend: Sendable {
    public let registry: any Registry
    /// The admin API's key (`TESSERA_ADMIN_KEY`); nil turns the admin API off.
    public let adminKey: String?
    /// Where the admin may load adapters from (vLLM's load_lora_adapter); nil turns that off.
    public let loraDirectory: String?
    /// Training files and fine-tuning jobs; nil turns those APIs off.
    public let jobs: TrainingJobs?
    private let loaded: Mutex<ServingState?>
    /// The registry's last reachability check (uptime ns, result): `/ready` is unauthenticated and polled, so it asks
    /// a shared database at most once a second.
    private let reachable = Mutex<(at: UInt64, ok: Bool)?>(nil)

    public init(registry: any Registry, state: ServingState? = nil, adminKey: String? = nil, loraDirectory: String? = nil,
                jobs: TrainingJobs? = nil) {
        self.registry = registry
        self.jobs = jobs
        self.adminKey = adminKey
        self.loraDirectory = loraDirectory
        loaded = Mutex(state)
    }

    public var state: ServingState? { loaded.withLock { $0 } }

    public func setLoaded(_ state: ServingState) {
        loaded.withLock { $0 = state }
        jobs?.attach(state)
        // An adapter deleted on another replica leaves this one's RAM too (requests holding it finish with it).
        registry.observe { [registry] change in
            guard case .adapter(let tenantID, let name, let removed) = change, !removed.isEmpty else { return }
            Task { for id in removed { await state.adapters.remove(id: id) } }
            if let tenant = try? registry.tenant(id: tenantID) {
                state.metrics.forget(tenant: tenant.name, model: name, adapterKeys: removed)
            }
        }
    }

    /// Why this replica should get no traffic now, or nil when it should.
    func notReadyReason() -> String? {
        guard let state else { return "the model is loading" }
        guard state.engine.isAccepting else { return "draining: the server is stopping" }
        let now = DispatchTime.now().uptimeNanoseconds
        let ok = reachable.withLock { r -> Bool? in
            guard let r, now &- r.at < 1_000_000_000 else { return nil }
            return r.ok
        } ?? {
            let ok = registry.isReachable()
            reachable.withLock { $0 = (now, ok) }
            return ok
        }()
        return ok ? nil : "the registry does not answer"
    }

    func trainingJobs() throws -> TrainingJobs {
        guard let jobs else { throw APIError(.notFound, "fine-tuning is off on this server") }
        return jobs
    }

    func ready() throws -> ServingState {
        guard let state else { throw APIError(.serviceUnavailable, "the model is loading; retry shortly") }
        return state
    }
}
