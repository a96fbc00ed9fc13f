import ArgumentParser
import Foundation
import TesseraLoadTest

/// `tessera loadtest`: multi-tenant adapter traffic against any OpenAI-compatible server, measured as
/// `vllm bench serve` measures it. Flags take vLLM's names where vLLM has the concept and override the scenario file.
struct LoadTestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loadtest",
        abstract: "Load-test an OpenAI-compatible server with multi-tenant adapter traffic (vLLM bench serve's metrics).",
        discussion: "The API key comes from OPENAI_API_KEY (or each tenant's api_key_env); TESSERA_ADMIN_KEY lets --setup create tenants.")

    @Option(help: "Scenario JSON file (loadtest/scenarios/*.json); the flags below override its fields.")
    var scenario: String?
    @Option(help: "Server base URL.") var baseUrl = "http://127.0.0.1:8080"
    @Option(help: "/v1/completions or /v1/chat/completions.") var endpoint: String?
    @Option(help: "Base model name (default: the first the server lists).") var model: String?
    @Option(help: "Number of requests.") var numPrompts: Int?
    @Option(help: "Seconds to keep sending (own flag; vLLM has none).") var duration: Double?
    @Option(help: "Requests per second, or inf for all at once.") var requestRate: String?
    @Option(help: "Gamma shape of inter-arrival times (1 = Poisson).") var burstiness: Double?
    @Option(help: "linear or exponential.") var rampUpStrategy: String?
    @Option var rampUpStartRps: Double?
    @Option var rampUpEndRps: Double?
    @Option(help: "Most requests in flight at once.") var maxConcurrency: Int?
    @Option var randomInputLen: Int?
    @Option var randomOutputLen: Int?
    @Option var randomRangeRatio: Double?
    @Option(help: "JSONL prompts: {\"prompt\": text or token ids, \"output_len\": N}.") var datasetPath: String?
    @Flag(help: "Ask the server to ignore EOS so output lengths are exact.") var ignoreEos = false
    @Option var temperature: Double?
    @Option(parsing: .upToNextOption, help: "Adapter names to spread requests over uniformly (vLLM's flag).") var loraModules: [String] = []
    @Option(help: "none, power_law, distinct, uniform, skewed, identical, round_robin or explicit.") var adapterDistribution: String?
    @Option(help: "Power-law exponent (S-LoRA): adapter floor(power(alpha)·n).") var alpha: Double?
    @Option var numAdapters: Int?
    @Option(help: "N equal tenants, or name:share:weight,... (keys from OPENAI_API_KEY, or made by --setup).") var tenants: String?
    @Option(parsing: .upToNextOption, help: "SLOs as ttft:MS tpot:MS e2el:MS.") var goodput: [String] = []
    @Option(help: "Comma-separated: ttft,tpot,itl,e2el.") var percentileMetrics: String?
    @Option(help: "Comma-separated percentiles, e.g. 50,90,99.") var metricPercentiles: String?
    @Option var seed: UInt64?
    @Option(help: "Seconds before a request counts as failed.") var timeout: Double?
    @Flag(help: "HTTP/2 over cleartext (prior knowledge), every request a stream of one connection.") var http2 = false
    @Flag(help: "Create tenants (with TESSERA_ADMIN_KEY) and upload the scenario's adapters first; remove them after.") var setup = false
    @Option(help: "Comma-separated request rates to run one after another.") var sweep: String?
    @Flag(help: "Write the JSON result (and the HTML report beside it).") var saveResult = false
    @Flag(help: "Add per-request arrays to the JSON result.") var saveDetailed = false
    @Option var resultDir: String?
    @Option var resultFilename: String?
    @Flag(help: "No live progress line.") var noProgress = false

    func run() async throws {
        let test = try runOrExit { () throws(LoadTestError) in try makeTest() }
        let task = Task { try await test.run() }
        // Ctrl-C stops sending and still cleans up what --setup made.
        signal(SIGINT, SIG_IGN)
        let interrupt = DispatchSource.makeSignalSource(signal: SIGINT)
        interrupt.setEventHandler { FileHandle.standardError.write(Data("\ninterrupted: finishing and cleaning up\n".utf8)); task.cancel() }
        interrupt.resume()
        let outcome: LoadTest.Outcome
        do {
            outcome = try await task.value
        } catch let e as LoadTestError {
            FileHandle.standardError.write(Data("error: \(e.message)\n".utf8))
            throw ExitCode.failure
        }
        for r in outcome.results { print(ResultSummary.text(r)) }
        guard saveResult || saveDetailed || resultFilename != nil else { return }
        try save(outcome, scenario: test.scenario)
    }

    func makeTest() throws(LoadTestError) -> LoadTest {
        var s = try scenario.map { p throws(LoadTestError) in try Scenario.load(path: p) } ?? Scenario()
        if let endpoint { s.endpoint = endpoint }
        if let model { s.model = model }
        if let numPrompts { s.num_prompts = numPrompts }
        if let duration {
            s.duration = duration
            if numPrompts == nil { s.num_prompts = nil }
        }
        if let requestRate {
            if requestRate == "inf" { s.request_rate = nil } else {
                guard let r = Double(requestRate) else { throw LoadTestError("--request-rate must be a number or inf") }
                s.request_rate = r
            }
        }
        if let burstiness { s.burstiness = burstiness }
        if let rampUpStrategy {
            guard let r = Scenario.RampUp(rawValue: rampUpStrategy) else { throw LoadTestError("--ramp-up-strategy must be linear or exponential") }
            s.ramp_up_strategy = r
        }
        if let rampUpStartRps { s.ramp_up_start_rps = rampUpStartRps }
        if let rampUpEndRps { s.ramp_up_end_rps = rampUpEndRps }
        if let maxConcurrency { s.max_concurrency = maxConcurrency }
        if let randomInputLen { s.random_input_len = randomInputLen }
        if let randomOutputLen { s.random_output_len = randomOutputLen }
        if let randomRangeRatio { s.random_range_ratio = randomRangeRatio }
        if let datasetPath { s.dataset_path = datasetPath }
        if ignoreEos { s.ignore_eos = true }
        if let temperature { s.temperature = temperature }
        if !loraModules.isEmpty {
            s.adapters.distribution = .explicit
            s.adapters.names = loraModules
            s.adapters.weights = nil
        }
        if let adapterDistribution {
            guard let d = AdapterMix.Distribution(rawValue: adapterDistribution) else {
                throw LoadTestError("--adapter-distribution must be one of \(AdapterMix.Distribution.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            s.adapters.distribution = d
        }
        if let alpha { s.adapters.alpha = alpha }
        if let numAdapters { s.adapters.num_adapters = numAdapters }
        if let tenants { s.tenants = try TenantSpec.parseList(tenants) }
        if !goodput.isEmpty { s.goodput = goodput }
        if let percentileMetrics { s.percentile_metrics = percentileMetrics }
        if let metricPercentiles { s.metric_percentiles = metricPercentiles }
        if let seed { s.seed = seed }
        if let timeout { s.timeout = timeout }
        if http2 { s.http2 = true }
        var test = LoadTest(scenario: s, baseURL: baseUrl)
        test.setup = setup
        test.adminKey = ProcessInfo.processInfo.environment["TESSERA_ADMIN_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        test.detailed = saveDetailed
        if let sweep {
            test.sweep = try sweep.split(separator: ",").map { p throws(LoadTestError) in
                guard let r = Double(p), r > 0 else { throw LoadTestError("--sweep takes positive rates, like 1,2,4; got \(p)") }
                return r
            }
        }
        test.log = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
        if !noProgress, isatty(STDERR_FILENO) != 0 { test.progress = { FileHandle.standardError.write(Data($0.utf8)) } }
        return test
    }

    func save(_ outcome: LoadTest.Outcome, scenario: Scenario) throws {
        let date = DateFormatter()
        date.dateFormat = "yyyyMMdd-HHmmss"
        let rate = outcome.rates.count > 1 ? "sweep" : outcome.rates.first.flatMap { $0 }.map { "\($0)qps" } ?? "infqps"
        var name = resultFilename ?? "loadtest-\(scenario.name)-\(rate)-\(date.string(from: Date())).json"
        if let resultDir {
            try FileManager.default.createDirectory(atPath: resultDir, withIntermediateDirectories: true)
            name = (resultDir as NSString).appendingPathComponent(name)
        }
        let machine = "client: " + MachineDescription.current() + "\nserver: \(baseUrl)\ncommand: tessera " + CommandLine.arguments.dropFirst().joined(separator: " ")
        let results = outcome.results.map { r -> JSONValue in
            guard case .object(var pairs) = r.json else { return r.json }
            pairs.append(("machine", .string(machine)))
            return .object(pairs)
        }
        let json = results.count == 1 ? results[0] : .array(results)
        try Data((json.serialized() + "\n").utf8).write(to: URL(fileURLWithPath: name))
        let html = (name.hasSuffix(".json") ? String(name.dropLast(5)) : name) + ".html"
        let page = HTMLReport.render(title: "Load test: \(scenario.name)", results: outcome.results, rates: outcome.rates, machine: machine)
        try Data(page.utf8).write(to: URL(fileURLWithPath: html))
        FileHandle.standardError.write(Data("saved \(name) and \(html)\n".utf8))
    }
}
