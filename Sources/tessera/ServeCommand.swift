import ArgumentParser
import Foundation
import Hummingbird
import Logging
import TesseraEngine
import ServiceLifecycle
import TesseraAdapters
import TesseraServer

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the OpenAI-compatible API.",
        discussion: "Tenants and their keys live in DATA_DIR/registry.sqlite, or in the PostgreSQL --registry names (replicas share it, and an --adapter-store every one mounts); create them with `tessera tenants create` or the admin API.")

    @OptionGroup var model: ModelOptions

    @Option(name: .long, help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(name: .long, help: "Port to listen on.")
    var port = 8080

    @OptionGroup var state: StateOptions

    @Option(help: "This replica's name in the shared registry: it owns the fine-tuning jobs it trains (default: the host name, a pod's name in Kubernetes).")
    var replicaID: String?

    @Option(name: .long, help: "The base model's id in the API (default: the model file's name without .gguf).")
    var servedModelName: String?

    @Option(name: .long, help: "Bytes of the KV cache, allocated once.")
    var kvCacheBytes = 1 << 30

    @Option(name: .long, help: "Tokens per engine step (prefill chunks and decodes together).")
    var tokenBudget = Engine.Configuration().tokenBudget

    @Option(name: .long, help: "Sequences per engine step.")
    var maxSequences = Engine.Configuration().maxSequencesPerStep

    @Option(name: .long, help: "Requests waiting to start; beyond it requests get 429.")
    var maxWaiting = Engine.Configuration().maxWaiting

    @Option(name: .long, help: "Bytes of adapters kept in RAM (least recently used leave first).")
    var adapterCacheBytes = 1 << 30

    @Option(name: .long, help: "Largest adapter upload, in bytes (413 beyond).")
    var maxUploadBytes = 256 << 20

    @Option(name: .long, help: "Directory the admin may load adapters from with /v1/load_lora_adapter (off when unset).")
    var loraDir: String?

    @Option(name: .long, help: "Seconds to let running requests finish after SIGTERM before ending them with an error.")
    var drainTimeout = 30.0

    @Option(name: .long, help: "Largest max_tokens a request may ask for (400 beyond; default: the model's context). Tenants may have lower ceilings (admin API).")
    var maxTokensLimit: Int?

    @Option(name: .long, help: "Seconds a completion may take from arrival to its last token; then it is cancelled and answered 408 (0: no limit).")
    var requestTimeout = 600.0

    @Option(name: .long, help: "Seconds a connection may stay silent (between requests, or mid-request) before it is closed (0: never).")
    var idleTimeout = 60.0

    @Option(help: "Fine-tuning jobs training at once, each a `tessera train` child at the lowest CPU priority (0: no fine-tuning API).")
    var maxTrainingJobs = 1

    @Option(help: "Compute threads of each fine-tuning job (default: the machine's cores; at idle priority they only take idle time).")
    var trainingThreads: Int?

    @Option(help: "Largest training file upload, in bytes (413 beyond).")
    var maxFileBytes = 64 << 20

    @Option(help: "Bytes of training files a tenant may keep.")
    var maxTenantFileBytes = 1 << 30

    func validate() throws {
        guard maxTrainingJobs >= 0, trainingThreads.map({ $0 > 0 }) ?? true, maxFileBytes > 0, maxTenantFileBytes > 0 else {
            throw ValidationError("--max-training-jobs must not be negative; --training-threads, --max-file-bytes and --max-tenant-file-bytes must be positive")
        }
        if let m = maxTokensLimit, m < 1 { throw ValidationError("--max-tokens-limit must be at least 1") }
        guard requestTimeout >= 0, requestTimeout.isFinite else { throw ValidationError("--request-timeout must be 0 or more seconds") }
        guard idleTimeout >= 0, idleTimeout.isFinite else { throw ValidationError("--idle-timeout must be 0 or more seconds") }
    }

    func run() async throws {
        var logger = Logger(label: "tessera")
        logger.logLevel = .info
        let registry = try state.openRegistry()
        let storeDirectory = state.storeDirectory
        var jobs: TrainingJobs?
        if maxTrainingJobs > 0 {
            // The children run this same executable over the same model file (absolute: their paths never depend on a cwd).
            let executable = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
            var c = TrainingJobs.Configuration(trainer: executable, modelPath: URL(fileURLWithPath: model.path).standardizedFileURL.path)
            c.chatTemplatePath = model.chatTemplate.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
            c.maxJobs = maxTrainingJobs
            c.threads = trainingThreads
            c.maxFileBytes = maxFileBytes
            c.maxTenantFileBytes = maxTenantFileBytes
            if let replicaID { c.replicaID = replicaID }
            let configuration = c
            jobs = try runOrExit { try TrainingJobs(registry: registry, dataDirectory: storeDirectory, configuration: configuration, logger: logger) }
        }
        let backend = Backend(registry: registry, adminKey: ProcessInfo.processInfo.environment["TESSERA_ADMIN_KEY"], loraDirectory: loraDir, jobs: jobs)
        var config = Engine.Configuration()
        config.kvCacheBytes = kvCacheBytes
        config.kvCacheType = model.kvCacheDtype
        config.tokenBudget = tokenBudget
        config.maxSequencesPerStep = maxSequences
        config.maxWaiting = maxWaiting
        let model = self.model, id = servedModelName ?? URL(fileURLWithPath: model.path).deletingPathExtension().lastPathComponent
        guard FileManager.default.isReadableFile(atPath: model.path) else { throw CLIError("\(model.path): no such model file") }
        let engineConfig = config
        let store = try runOrExit { try AdapterStore(directory: storeDirectory.appendingPathComponent("adapters")) }
        let recovery = try runOrExit { try DataRecovery.recover(registry: registry, store: store, files: jobs?.files) }
        if !recovery.isClean { logger.warning("data directory recovered after an unclean stop: \(recovery)") }
        let cacheBytes = adapterCacheBytes, uploadBytes = maxUploadBytes
        let limits = RequestLimits(maxTokens: maxTokensLimit, timeoutSeconds: requestTimeout > 0 ? requestTimeout : nil)
        let modelService = ModelService(backend: backend, drainTimeout: .seconds(drainTimeout), logger: logger) {
            let (lm, tokenizer) = try loadModel(model)
            let template = try model.template(for: tokenizer)
            let engine = Engine(model: lm, tokenizer: tokenizer, configuration: engineConfig)
            let adapters = AdapterCache(store: store, config: lm.config, budgetBytes: cacheBytes)
            return ServingState(model: lm, tokenizer: tokenizer, engine: engine, registry: registry, adapters: adapters,
                                modelID: id, chatTemplate: template, maxUploadBytes: uploadBytes, limits: limits)
        }
        let app = Application(
            router: buildRouter(backend),
            server: httpServer(idleTimeoutSeconds: idleTimeout),
            configuration: .init(address: .hostname(host, port: port), serverName: "tessera"),
            logger: logger)
        logger.info("listening on http://\(host):\(port); loading \(model.path)")
        // Shut down in reverse order: the model service drains the engine first, then the HTTP server stops.
        let group = ServiceGroup(configuration: .init(
            services: [app, modelService], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
