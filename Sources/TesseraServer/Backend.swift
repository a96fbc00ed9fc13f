import Synchronization

/// What the routes serve from: the registry from the start, the model once it has loaded (until then `/health` and
/// every model route answer 503, so a load balancer waits).
public final class Backend: Sendable {
    public let registry: Registry
    /// The admin API's key (`TESSERA_ADMIN_KEY`); nil turns the admin API off.
    public let adminKey: String?
    /// Where the admin may load adapters from (vLLM's load_lora_adapter); nil turns that off.
    public let loraDirectory: String?
    /// Training files and fine-tuning jobs; nil turns those APIs off.
    public let jobs: TrainingJobs?
    private let loaded: Mutex<ServingState?>

    public init(registry: Registry, state: ServingState? = nil, adminKey: String? = nil, loraDirectory: String? = nil,
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
