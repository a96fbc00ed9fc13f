import Foundation

/// A whole load test: connect, find the model, set up (optionally), run one rate or a sweep, clean up, and hand back
/// the results. The CLI and the tests both drive it.
public struct LoadTest: Sendable {
    public var scenario: Scenario
    public var baseURL: String
    public var environment: [String: String]
    /// Tessera's admin key (for `--setup` tenants); nil leaves tenants to their own keys.
    public var adminKey: String?
    public var setup = false
    /// `--sweep`: rates to run one after another; empty runs the scenario's own rate.
    public var sweep: [Double] = []
    public var detailed = false
    public var log: @Sendable (String) -> Void = { _ in }
    public var progress: (@Sendable (String) -> Void)?

    public init(scenario: Scenario, baseURL: String, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.scenario = scenario
        self.baseURL = baseURL
        self.environment = environment
    }

    public struct Outcome: Sendable {
        public var results: [BenchmarkResult]
        public var rates: [Double?]
        public var model: String
    }

    public func run() async throws -> Outcome {
        try scenario.validate()
        let base = try BaseURL(baseURL)
        let dataset = try scenario.dataset_path.map { p throws(LoadTestError) in try DatasetEntry.load(path: p) } ?? []
        let connections = scenario.max_concurrency ?? 1024
        let transport: any Transport = scenario.http2 ? HTTP2Transport(base: base) : HTTP1Transport(base: base, connections: connections)
        let setupper = setup ? ScenarioSetup(transport: transport, scenario: scenario, log: log) : nil
        do {
            var keys = try tenantKeys()
            if let setupper { keys = try await setupper.prepare(keys: keys, adminKey: adminKey, dataset: dataset) }
            let model = try await baseModel(transport, key: keys.first ?? nil)
            var results: [BenchmarkResult] = []
            let rates: [Double?] = sweep.isEmpty ? [scenario.request_rate] : sweep.map { $0 }
            for rate in rates {
                try Task.checkCancellation()
                var s = scenario
                s.request_rate = rate
                if rates.count > 1 { log("sweep: request rate \(rate.map { fixed($0, 2) } ?? "inf")") }
                let runner = LoadRunner(scenario: s, dataset: dataset, transport: transport, baseModel: model, keys: keys, progress: progress)
                let record = await runner.run()
                results.append(try BenchmarkResult(record, baseURL: baseURL, model: model, detailed: detailed))
            }
            await setupper?.cleanUp(adminKey: adminKey)
            await transport.shutdown()
            return Outcome(results: results, rates: rates, model: model)
        } catch {
            await setupper?.cleanUp(adminKey: adminKey)
            await transport.shutdown()
            throw error
        }
    }

    /// OPENAI_API_KEY for every tenant, or the variable a tenant names.
    func tenantKeys() throws(LoadTestError) -> [String?] {
        let fallback = environment["OPENAI_API_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        guard !scenario.tenants.isEmpty else { return [fallback] }
        return try scenario.tenants.map { t throws(LoadTestError) in
            guard let name = t.api_key_env else { return fallback }
            guard let key = environment[name], !key.isEmpty else {
                if setup && adminKey != nil { return nil }
                throw LoadTestError("tenant \(t.name): environment variable \(name) is not set")
            }
            return key
        }
    }

    /// The scenario's model, or the first one the server lists (as vLLM's bench does without --model).
    func baseModel(_ transport: any Transport, key: String?) async throws -> String {
        if let m = scenario.model { return m }
        let a = try await APIClient(transport: transport).call("GET", "/v1/models", key: key)
        guard a.status == 200, let data = (a.json as? [String: Any])?["data"] as? [[String: Any]], let id = data.first?["id"] as? String else {
            throw LoadTestError("GET /v1/models answered \(a.status) \(a.text); give --model")
        }
        return id
    }
}
