import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import TesseraAdapters
import TesseraEngine
import TesseraModel
import TesseraServer
import TesseraTestSupport
import TesseraTokenizer

/// The routes in-process (HummingbirdTesting), over the test model and a fresh registry.
@Suite struct ServerTests {
    static let model = try! ModelRegistry.load(TestModel.gguf)
    static let tokenizer = try! Tokenizer(gguf: TestModel.gguf)

    struct Harness {
        let client: any TestClientProtocol
        let key: String
        /// A second tenant's key.
        let otherKey: String
        let engine: Engine
        /// The fine-tuning queue, when the server was made with one.
        var jobs: TrainingJobs? = nil

        func post(_ uri: String, _ json: String, key: String? = nil) async throws -> TestResponse {
            try await client.execute(uri: uri, method: .post,
                                     headers: [.authorization: "Bearer \(key ?? self.key)", .contentType: "application/json"],
                                     body: ByteBuffer(string: json))
        }

        func get(_ uri: String, key: String? = nil) async throws -> TestResponse {
            try await client.execute(uri: uri, method: .get, headers: [.authorization: "Bearer \(key ?? self.key)"])
        }

        func delete(_ uri: String, key: String? = nil) async throws -> TestResponse {
            try await client.execute(uri: uri, method: .delete, headers: [.authorization: "Bearer \(key ?? self.key)"])
        }

        /// multipart/form-data with the given parts (name, bytes), cut to `truncate` bytes when given.
        func upload(_ parts: [(String, Data)], key: String? = nil, truncate: Int? = nil, to uri: String = "/v1/adapters") async throws -> TestResponse {
            let boundary = "tessera-test-boundary"
            var body = Data()
            for (name, data) in parts {
                body.append(Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"; filename=\"\(name)\"\r\nContent-Type: application/octet-stream\r\n\r\n".utf8))
                body.append(data)
                body.append(Data("\r\n".utf8))
            }
            body.append(Data("--\(boundary)--\r\n".utf8))
            if let truncate { body = body.prefix(truncate) }
            return try await client.execute(uri: uri, method: .post,
                                            headers: [.authorization: "Bearer \(key ?? self.key)", .contentType: "multipart/form-data; boundary=\(boundary)"],
                                            body: ByteBuffer(bytes: body))
        }
    }

    /// The routes in-process over a fresh data dir with tenants acme and globex; `fineTuning` turns the files and
    /// fine-tuning APIs on (their trainer is the built `tessera`), with the configuration it adjusts.
    /// `registry` opens another registry than SQLite in the data dir (replicas: a shared PostgreSQL and directory).
    static func withServer(limits: RequestLimits = .init(), fineTuning: ((inout TrainingJobs.Configuration) -> Void)? = nil,
                           directory: URL? = nil, registry open: (() throws -> any Registry)? = nil,
                           _ body: @escaping @Sendable (Harness) async throws -> Void) async throws {
        let dir = directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("tessera-server-\(UUID().uuidString)")
        defer { if directory == nil { try? FileManager.default.removeItem(at: dir) } }
        let registry = try open?() ?? SQLiteRegistry(directory: dir)
        let key = try Self.tenantKey(registry, "acme", in: dir), otherKey = try Self.tenantKey(registry, "globex", in: dir)
        var config = Engine.Configuration()
        config.kvCacheBytes = 64 << 20
        let engine = Engine(model: model, tokenizer: tokenizer, configuration: config)
        defer { engine.close() }
        let store = try AdapterStore(directory: dir.appendingPathComponent("adapters"))
        let state = ServingState(model: model, tokenizer: tokenizer, engine: engine, registry: registry,
                                 adapters: AdapterCache(store: store, config: model.config, budgetBytes: 64 << 20),
                                 modelID: "smollm2-test", chatTemplate: try ChatTemplate(tokenizer.chatTemplate ?? ""),
                                 maxUploadBytes: 8 << 20, limits: limits)
        let jobs = try fineTuning.map { adjust in
            var c = TrainingJobs.Configuration(trainer: TestModel.executable, modelPath: TestModel.path)
            adjust(&c)
            return try TrainingJobs(registry: registry, dataDirectory: dir, configuration: c)
        }
        let backend = Backend(registry: registry, adminKey: adminKey, loraDirectory: AdapterAPITests.fixtures.path, jobs: jobs)
        backend.setLoaded(state)
        let app = Application(router: buildRouter(backend))
        try await app.test(.router) { client in try await body(Harness(client: client, key: key, otherKey: otherKey, engine: engine, jobs: jobs)) }
        await jobs?.shutdown(timeout: .seconds(10))
    }

    static let adminKey = "admin-secret"

    /// A tenant's key, made on first use; kept in the data dir so a test that reopens it (a restart) keeps its keys.
    static func tenantKey(_ registry: any Registry, _ name: String, in directory: URL) throws -> String {
        let file = directory.appendingPathComponent("\(name).key")
        if let key = try? String(contentsOf: file, encoding: .utf8) { return key }
        let (_, key) = try registry.createTenant(name: name)
        try key.write(to: file, atomically: true, encoding: .utf8)
        return key
    }

    static func json(_ r: TestResponse) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(r.body.readableBytesView))) as? [String: Any] ?? [:]
    }

    static func error(_ r: TestResponse) -> [String: Any] { json(r)["error"] as? [String: Any] ?? [:] }

    @Test func healthAndRequestIDs() async throws {
        try await Self.withServer { h in
            let r = try await h.client.execute(uri: "/health", method: .get)
            #expect(r.status == .ok && r.headers[HTTPField.Name("x-request-id")!]?.hasPrefix("req-") == true)
            let given = try await h.client.execute(uri: "/health", method: .get, headers: [HTTPField.Name("x-request-id")!: "abc-123"])
            #expect(given.headers[HTTPField.Name("x-request-id")!] == "abc-123")
        }
    }

    /// Liveness and readiness apart: a server loading its model (or draining) is alive, and not ready.
    @Test func healthIsLivenessAndReadyIsReadiness() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-probes-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let registry = try SQLiteRegistry(directory: dir)
        let backend = Backend(registry: registry)
        let app = Application(router: buildRouter(backend))
        try await app.test(.router) { client in
            #expect(try await client.execute(uri: "/health", method: .get).status == .ok)
            let loading = try await client.execute(uri: "/ready", method: .get)
            #expect(loading.status == .serviceUnavailable)
            #expect((Self.error(loading)["message"] as? String)?.contains("loading") == true)
            var config = Engine.Configuration()
            config.kvCacheBytes = 16 << 20
            let engine = Engine(model: Self.model, tokenizer: Self.tokenizer, configuration: config)
            defer { engine.close() }
            let store = try AdapterStore(directory: dir.appendingPathComponent("adapters"))
            backend.setLoaded(ServingState(model: Self.model, tokenizer: Self.tokenizer, engine: engine, registry: registry,
                                           adapters: AdapterCache(store: store, config: Self.model.config, budgetBytes: 1 << 20),
                                           modelID: "smollm2-test", chatTemplate: nil, maxUploadBytes: 1 << 20, limits: .init()))
            #expect(try await client.execute(uri: "/ready", method: .get).status == .ok)
            engine.stopAccepting()
            let draining = try await client.execute(uri: "/ready", method: .get)
            #expect(draining.status == .serviceUnavailable)
            #expect((Self.error(draining)["message"] as? String)?.contains("draining") == true)
            #expect(try await client.execute(uri: "/health", method: .get).status == .ok)
        }
    }

    @Test func keysAreRequiredAndChecked() async throws {
        try await Self.withServer { h in
            let none = try await h.client.execute(uri: "/v1/models", method: .get)
            #expect(none.status == .unauthorized && Self.error(none)["type"] as? String == "authentication_error")
            #expect(none.headers[HTTPField.Name("x-request-id")!] != nil, "errors carry a request id too")
            let forged = h.key.dropLast(4) + "0000"
            #expect(try await h.post("/v1/completions", #"{"model":"smollm2-test","prompt":"hi"}"#, key: String(forged)).status == .unauthorized)
            #expect(try await h.post("/v1/completions", #"{"model":"smollm2-test","prompt":"hi"}"#, key: "sk-not-ours").status == .unauthorized)
        }
    }

    @Test func modelsListTheBase() async throws {
        try await Self.withServer { h in
            let r = try await h.get("/v1/models")
            let data = Self.json(r)["data"] as? [[String: Any]]
            #expect(r.status == .ok && data?.first?["id"] as? String == "smollm2-test")
        }
    }

    @Test func completionsMatchTheGenerator() async throws {
        let prompt = "The capital of France is"
        let expected = try Generator(model: Self.model, tokenizer: Self.tokenizer)
            .generate(prompt: Self.tokenizer.encode(prompt, addSpecial: true), parameters: .greedy(maxTokens: 12))
        try await Self.withServer { h in
            let r = try await h.post("/v1/completions", #"{"model":"smollm2-test","prompt":"\#(prompt)","max_tokens":12,"temperature":0,"logprobs":2}"#)
            let body = Self.json(r)
            let choice = (body["choices"] as? [[String: Any]])?.first
            #expect(r.status == .ok && body["object"] as? String == "text_completion")
            #expect(choice?["text"] as? String == expected.text)
            #expect(choice?["finish_reason"] as? String == expected.finishReason.rawValue)
            let usage = body["usage"] as? [String: Int]
            #expect(usage?["prompt_tokens"] == expected.promptTokens && usage?["total_tokens"] == expected.promptTokens + (usage?["completion_tokens"] ?? -1))
            let lp = choice?["logprobs"] as? [String: Any]
            #expect((lp?["token_logprobs"] as? [Double])?.count == expected.tokens.count)

            // The same, streamed: chunks of text that add up, usage at the end, then [DONE].
            let s = try await h.post("/v1/completions", #"{"model":"smollm2-test","prompt":"\#(prompt)","max_tokens":12,"temperature":0,"stream":true,"stream_options":{"include_usage":true}}"#)
            let events = String(buffer: s.body).components(separatedBy: "\n\n").filter { !$0.isEmpty }
            #expect(s.status == .ok && s.headers[.contentType] == "text/event-stream")
            #expect(events.last == "data: [DONE]")
            let chunks = events.dropLast().compactMap { try? JSONSerialization.jsonObject(with: Data($0.dropFirst(6).utf8)) as? [String: Any] }
            let text = chunks.compactMap { ($0["choices"] as? [[String: Any]])?.first?["text"] as? String }.joined()
            #expect(text == expected.text)
            #expect((chunks.last?["usage"] as? [String: Int])?["completion_tokens"] == usage?["completion_tokens"])
        }
    }

    /// `echo` with `logprobs`: the prompt's tokens first (the very first with null), then the completion's.
    @Test func echoScoresThePrompt() async throws {
        let prompt = "The capital of France is"
        let ids = Self.tokenizer.encode(prompt, addSpecial: true)
        let expected = try Scoring.logprobs(model: Self.model, tokens: ids)
        try await Self.withServer { h in
            let r = try await h.post("/v1/completions", #"{"model":"smollm2-test","prompt":"\#(prompt)","max_tokens":0,"echo":true,"logprobs":1}"#)
            let choice = (Self.json(r)["choices"] as? [[String: Any]])?.first
            let lp = choice?["logprobs"] as? [String: Any]
            let values = lp?["token_logprobs"] as? [Any]
            #expect(r.status == .ok && choice?["text"] as? String == prompt)
            #expect(values?.count == ids.count && values?.first is NSNull)
            for (i, v) in (values ?? []).enumerated().dropFirst() {
                #expect(abs((v as? Double ?? 0) - Double(expected[i - 1])) < 1e-4)
            }
            #expect((lp?["text_offset"] as? [Int])?.first == 0)
        }
    }

    @Test func chatUsesTheTemplate() async throws {
        try await Self.withServer { h in
            let r = try await h.post("/v1/chat/completions", #"{"model":"smollm2-test","messages":[{"role":"user","content":"What is the capital of France?"}],"temperature":0,"max_tokens":20,"logprobs":true,"top_logprobs":3}"#)
            let body = Self.json(r)
            let choice = (body["choices"] as? [[String: Any]])?.first
            let message = choice?["message"] as? [String: Any]
            #expect(r.status == .ok && body["object"] as? String == "chat.completion")
            #expect((message?["content"] as? String)?.contains("Paris") == true)
            let content = (choice?["logprobs"] as? [String: Any])?["content"] as? [[String: Any]]
            #expect((content?.first?["top_logprobs"] as? [Any])?.count == 3)

            let s = try await h.post("/v1/chat/completions", #"{"model":"smollm2-test","messages":[{"role":"user","content":"What is the capital of France?"}],"temperature":0,"max_tokens":20,"stream":true}"#)
            let events = String(buffer: s.body).components(separatedBy: "\n\n").filter { !$0.isEmpty }
            let chunks = events.dropLast().compactMap { try? JSONSerialization.jsonObject(with: Data($0.dropFirst(6).utf8)) as? [String: Any] }
            let deltas = chunks.compactMap { (($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])?["content"] as? String }
            #expect(deltas.joined() == message?["content"] as? String)
            // One role chunk, first (sent with the first token, after prefill).
            let roles = chunks.map { (($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])?["role"] as? String }
            #expect(roles.first == "assistant" && roles.compactMap { $0 }.count == 1)
            #expect(events.last == "data: [DONE]")
        }
    }

    @Test func badRequestsGetOpenAIErrors() async throws {
        try await Self.withServer { h in
            func check(_ json: String, _ status: HTTPResponse.Status, param: String? = nil, code: String? = nil,
                       uri: String = "/v1/completions", sourceLocation: SourceLocation = #_sourceLocation) async throws {
                let r = try await h.post(uri, json)
                let e = Self.error(r)
                #expect(r.status == status, "\(json)", sourceLocation: sourceLocation)
                #expect(e["message"] is String && e["type"] is String, sourceLocation: sourceLocation)
                if let param { #expect(e["param"] as? String == param, sourceLocation: sourceLocation) }
                if let code { #expect(e["code"] as? String == code, sourceLocation: sourceLocation) }
            }
            try await check("{not json", .badRequest)
            try await check(#"{"prompt":"hi"}"#, .badRequest, param: "model")
            try await check(#"{"model":"smollm2-test","prompt":"hi","max_tokens":"many"}"#, .badRequest, param: "max_tokens")
            try await check(#"{"model":"other","prompt":"hi"}"#, .notFound, param: "model", code: "model_not_found")
            try await check(#"{"model":"smollm2-test","prompt":"hi","max_tokens":100000000}"#, .badRequest, code: "context_length_exceeded")
            try await check(#"{"model":"smollm2-test","prompt":"hi","n":0}"#, .badRequest, param: "n")
            try await check(#"{"model":"smollm2-test","prompt":"hi","temperature":-1}"#, .badRequest, param: "temperature")
            try await check(#"{"model":"smollm2-test","prompt":[99999999]}"#, .badRequest)
            try await check(#"{"model":"smollm2-test","messages":[]}"#, .badRequest, param: "messages", uri: "/v1/chat/completions")
            try await check(#"{"model":"smollm2-test","messages":[{"role":"wizard","content":"x"}]}"#, .badRequest, uri: "/v1/chat/completions")
            let long = String(repeating: "word ", count: 9000)  // more tokens than the 8,192-token context
            try await check(#"{"model":"smollm2-test","prompt":"\#(long)"}"#, .badRequest, code: "context_length_exceeded")
            try await check(#"{"model":"smollm2-test","messages":[{"role":"user","content":"\#(long)"}]}"#, .badRequest,
                            code: "context_length_exceeded", uri: "/v1/chat/completions")
            let huge = String(repeating: "a", count: 5 << 20)
            try await check(#"{"model":"smollm2-test","prompt":"\#(huge)"}"#, .contentTooLarge)
        }
    }

    @Test func metricsCountRequestsPerTenant() async throws {
        try await Self.withServer { h in
            #expect(try await h.post("/v1/completions", #"{"model":"smollm2-test","prompt":"hi","max_tokens":3,"ignore_eos":true}"#).status == .ok)
            #expect(try await h.post("/v1/completions", #"{"model":"nope","prompt":"hi"}"#).status == .notFound)
            let r = try await h.client.execute(uri: "/metrics", method: .get)
            let text = String(buffer: r.body)
            #expect(r.status == .ok)
            for line in ["vllm:num_requests_running 0", "vllm:num_requests_waiting 0", "vllm:kv_cache_usage_perc 0",
                         "vllm:time_to_first_token_seconds_count 1", "vllm:inter_token_latency_seconds_count 2",
                         "vllm:generation_tokens_total 3", #"tessera_requests_total{tenant="acme",model="smollm2-test"} 1"#,
                         #"tessera_request_errors_total{tenant="acme",code="model_not_found"} 1"#,
                         #"vllm:request_success_total{finished_reason="length"} 1"#] {
                #expect(text.contains(line), "\(line)")
            }
            #expect(text.contains("vllm:lora_requests_info{running_lora_adapters=\"\",waiting_lora_adapters=\"\",max_lora=\"64\"}"))
        }
    }

    @Test func tokenizeRoundTrips() async throws {
        try await Self.withServer { h in
            let t = Self.json(try await h.post("/tokenize", #"{"prompt":"Hello, world!","add_special_tokens":false}"#))
            let tokens = t["tokens"] as? [Int]
            #expect(tokens == Self.tokenizer.encode("Hello, world!").map(Int.init))
            let d = Self.json(try await h.post("/detokenize", #"{"tokens":\#(tokens ?? [])}"#))
            #expect(d["prompt"] as? String == "Hello, world!")
        }
    }
}
