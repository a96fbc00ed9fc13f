import Foundation
import TesseraAdapters
import TesseraEngine
import TesseraModel
import TesseraTokenizer

/// What every route shares: the base model held once, its tokenizer and chat template, the engine, the registry, the
/// adapter store and its RAM cache.
public final class ServingState: Sendable {
    public let model: any LanguageModel
    public let tokenizer: Tokenizer
    public let engine: Engine
    public let registry: Registry
    public let adapters: AdapterCache
    public let metrics = ServerMetrics()
    let limiter: TenantLimiter
    /// Largest upload accepted (413 beyond).
    public let maxUploadBytes: Int
    public let limits: RequestLimits
    /// The base model's id in the API (`model` field, `/v1/models`).
    public let modelID: String
    /// The model's own template or the operator's `--chat-template`, parsed (and checked) once at load.
    let chatTemplate: ChatTemplate?
    let created = Int(Date().timeIntervalSince1970)

    public init(model: any LanguageModel, tokenizer: Tokenizer, engine: Engine, registry: Registry, adapters: AdapterCache,
                modelID: String, chatTemplate: ChatTemplate?, maxUploadBytes: Int = 256 << 20, limits: RequestLimits = .init()) {
        self.limits = limits
        self.model = model
        self.adapters = adapters
        self.maxUploadBytes = maxUploadBytes
        self.tokenizer = tokenizer
        self.engine = engine
        self.registry = registry
        limiter = TenantLimiter(usage: registry.usage)
        self.modelID = modelID
        self.chatTemplate = chatTemplate
    }

    var contextLength: Int { model.config.contextLength }
    var store: AdapterStore { adapters.store }
}
