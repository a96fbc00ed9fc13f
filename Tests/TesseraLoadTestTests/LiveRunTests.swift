import Foundation
import Testing
import TesseraLoadTest

/// Whole load tests against the in-process mock server, over both transports.
@Suite struct LiveRunTests {
    static let shape = BaseShape(hidden_size: 8, intermediate_size: 16, num_hidden_layers: 2, num_attention_heads: 2,
                                 num_key_value_heads: 1, base_model_name_or_path: nil)

    func scenario(http2: Bool) -> Scenario {
        var s = Scenario()
        s.name = "live"
        s.num_prompts = 24
        s.request_rate = nil
        s.max_concurrency = 6
        s.random_input_len = 12
        s.random_output_len = 6
        s.random_range_ratio = 0.5
        s.ignore_eos = true
        s.seed = 7
        s.http2 = http2
        s.adapters.distribution = .power_law
        s.adapters.num_adapters = 10
        s.adapters.alpha = 0.5
        s.adapters.rank = 2
        s.adapters.base = Self.shape
        s.tenants = [TenantSpec(name: "a", share: 2, weight: 2), TenantSpec(name: "b"), TenantSpec(name: "c")]
        return s
    }

    @Test(arguments: [false, true])
    func aScenarioRunsWithSetupAndCleanUp(http2: Bool) async throws {
        let server = try await MockServer.start(http2: http2)
        defer { Task { await server.stop() } }
        let s = scenario(http2: http2)
        var test = LoadTest(scenario: s, baseURL: server.baseURL, environment: [:])
        test.setup = true
        test.adminKey = "admin-key"
        test.detailed = true
        let outcome = try await test.run()
        await server.stop()

        let plan = Workload.plan(s)
        let r = try #require(outcome.results.first)
        #expect(outcome.model == "mock-base")
        #expect(r.completed == 24 && r.failed == 0)
        #expect(r.json["total_output_tokens"]?.double == Double(plan.map(\.outputLength).reduce(0, +)))
        #expect(r.json["total_input_tokens"]?.double == Double(plan.map(\.inputLength).reduce(0, +)))
        #expect(r.json["output_tokens_from_usage"] == .bool(true))
        // One gap per chunk after the first; TPOT from E2EL and TTFT over output tokens - 1.
        #expect(r.itls.count == plan.map { $0.outputLength - 1 }.reduce(0, +))
        #expect(r.tpots.count == plan.filter { $0.outputLength > 1 }.count)
        #expect(r.json["max_concurrent_requests"]!.double! <= 6)

        // Every request reached the server as planned: its tenant's key, its adapter, its lengths, a unique id.
        let calls = server.calls
        #expect(calls.count == 24)
        #expect(Set(calls.compactMap(\.requestID)).count == 24)
        let created = server.tenants
        #expect(created.count == 3)
        let expected = plan.map { "\($0.adapter!)|key-\(created[$0.tenant])|\($0.inputLength)|\($0.outputLength)" }.sorted()
        #expect(calls.map { "\($0.model)|\($0.key ?? "")|\($0.promptLength)|\($0.maxTokens)" }.sorted() == expected)
        #expect(calls.allSatisfy { $0.ignoreEOS })

        // Setup uploaded exactly the (tenant, adapter) pairs the plan names; clean-up removed them and the tenants.
        let pairs = Set(plan.map { "key-\(created[$0.tenant])|\($0.adapter!)" })
        #expect(Set(server.uploads.map { "\($0.key ?? "")|\($0.name)" }) == pairs)
        #expect(server.uploads.count == pairs.count)
        #expect(Set(server.deletes.map { "\($0.key ?? "")|\($0.name)" }) == pairs)
        #expect(Set(server.revoked) == Set(created))

        let tenants = try #require(r.groups["tenant"])
        #expect(tenants.map(\.requests).reduce(0, +) == 24)
        #expect(tenants.map(\.name) == ["a", "b", "c"])
        #expect(r.fairness != nil)
    }

    /// A server that closes each kept-alive connection right after its response (without saying so) fails nothing:
    /// a request handed such a connection goes again on a new one.
    @Test func connectionsTheServerClosedAreNotFailures() async throws {
        let server = try await MockServer.start(http2: false, closeAfterResponse: true)
        var s = Scenario()
        s.num_prompts = 24
        s.max_concurrency = 4
        s.random_input_len = 4
        s.random_output_len = 3
        s.model = "mock-base"
        var test = LoadTest(scenario: s, baseURL: server.baseURL, environment: ["OPENAI_API_KEY": "k"])
        test.detailed = true
        let outcome = try await test.run()
        await server.stop()
        let r = try #require(outcome.results.first)
        #expect(r.completed == 24 && r.failed == 0, "errors: \(r.json["errors"].map { "\($0)" } ?? "none")")
    }

    @Test func failuresAreCountedByKind() async throws {
        let server = try await MockServer.start(http2: false)
        var s = Scenario()
        s.num_prompts = 9
        s.random_output_len = 3
        s.timeout = 0.5
        s.adapters.distribution = .round_robin
        s.adapters.num_adapters = 3
        s.adapters.distribution = .explicit
        s.adapters.names = ["fail-429", "no-choices", "hang"]
        s.adapters.weights = nil
        s.model = "mock-base"
        let outcome = try await LoadTest(scenario: s, baseURL: server.baseURL, environment: ["OPENAI_API_KEY": "k"]).run()
        await server.stop()
        let r = try #require(outcome.results.first)
        #expect(r.completed == 0 && r.failed == 9)
        let failures = try #require(r.json["failures"])
        let counted = ["429", "stream", "timeout"].map { failures[$0]?.double ?? 0 }.reduce(0, +)
        #expect(counted == 9)
        #expect(server.calls.allSatisfy { $0.key == "k" })
    }

    @Test func chatCountsTheRoleChunkAsTheFirstTokenAsVLLMDoes() async throws {
        let server = try await MockServer.start(http2: true)
        var s = Scenario()
        s.endpoint = "/v1/chat/completions"
        s.http2 = true
        s.num_prompts = 4
        s.random_input_len = 5
        s.random_output_len = 4
        let outcome = try await LoadTest(scenario: s, baseURL: server.baseURL, environment: [:]).run()
        await server.stop()
        let r = try #require(outcome.results.first)
        #expect(r.completed == 4)
        // Role chunk + 4 content chunks: 4 gaps per request, 4 output tokens from usage.
        #expect(r.itls.count == 16)
        #expect(r.json["total_output_tokens"]?.double == 16)
        #expect(server.calls.allSatisfy { $0.promptLength == 5 })
    }

    @Test func anUnreachableServerFailsRequestsNotTheClient() async throws {
        var s = Scenario()
        s.num_prompts = 3
        s.model = "m"
        for http2 in [false, true] {
            s.http2 = http2
            let outcome = try await LoadTest(scenario: s, baseURL: "http://127.0.0.1:1", environment: [:]).run()
            let r = try #require(outcome.results.first)
            #expect(r.failed == 3)
            #expect(r.json["failures"]?["connection"]?.double == 3)
        }
    }

    @Test func http2OpensANewConnectionWhenTheServerEndsOne() async throws {
        let server = try await MockServer.start(http2: true, idleTimeout: .milliseconds(100))
        let transport = HTTP2Transport(base: try BaseURL(server.baseURL))
        let models = HTTPRequestSpec(method: "GET", path: "/v1/models")
        #expect(try await transport.send(models).status == 200)
        // The server closes the idle connection; the next request opens a new one.
        try await Task.sleep(for: .milliseconds(600))
        let response = try await transport.send(models)
        #expect(response.status == 200)
        #expect(String(decoding: try await response.collect(), as: UTF8.self).contains("mock-base"))
        await transport.shutdown()
        await server.stop()
    }
}
