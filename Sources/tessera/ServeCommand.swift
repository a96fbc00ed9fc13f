import ArgumentParser
import Foundation
import Hummingbird
import Logging
import TesseraEngine
import TesseraServer

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the OpenAI-compatible API.",
        discussion: "Tenants and their keys live in DATA_DIR/registry.sqlite; create them with `tessera tenants create`.")

    @OptionGroup var model: ModelOptions

    @Option(name: .long, help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(name: .long, help: "Port to listen on.")
    var port = 8080

    @Option(name: .long, help: "Directory of the registry and adapter files.")
    var dataDir = "./data"

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

    func run() async throws {
        let logger = Logger(label: "tessera")
        let (lm, tokenizer) = try loadModel(model)
        let registry = try runOrExit { try Registry(directory: URL(fileURLWithPath: dataDir)) }
        var config = Engine.Configuration()
        config.kvCacheBytes = kvCacheBytes
        config.tokenBudget = tokenBudget
        config.maxSequencesPerStep = maxSequences
        config.maxWaiting = maxWaiting
        let engine = Engine(model: lm, tokenizer: tokenizer, configuration: config)
        for tenant in try runOrExit({ try registry.tenants() }) { engine.setWeight(tenant.weight, tenant: tenant.id) }
        let id = servedModelName ?? URL(fileURLWithPath: model.path).deletingPathExtension().lastPathComponent
        let state = ServingState(model: lm, tokenizer: tokenizer, engine: engine, registry: registry, modelID: id)
        var server = ServerConfiguration()
        server.host = host
        server.port = port
        logger.info("serving \(id) on http://\(host):\(port)")
        try await buildApplication(state, configuration: server, logger: logger).runService()
    }
}
