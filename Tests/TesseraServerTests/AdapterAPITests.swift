import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import TesseraAdapters
import TesseraEngine
import TesseraModel
import TesseraTestSupport

/// Uploading, using, listing and deleting adapters through the API, and what another tenant sees of them.
@Suite struct AdapterAPITests {
    static let fixtures = TestModel.repositoryRoot.appendingPathComponent("Tests/TesseraAdaptersTests/Fixtures")

    static func files(_ kind: String) throws -> [(String, Data)] {
        let dir = fixtures.appendingPathComponent(kind)
        return [("adapter_config", try Data(contentsOf: dir.appendingPathComponent("adapter_config.json"))),
                ("adapter_model", try Data(contentsOf: dir.appendingPathComponent("adapter_model.safetensors")))]
    }

    static func text(_ r: TestResponse) -> String? {
        ((ServerTests.json(r)["choices"] as? [[String: Any]])?.first)?["text"] as? String
    }

    @Test func uploadedAdapterServesTheNextRequest() async throws {
        let prompt = "The capital of France is"
        let loaded = try PEFTAdapter.load(directory: Self.fixtures.appendingPathComponent("lora").path, model: ServerTests.model)
        let expected = try Generator(model: ServerTests.model, tokenizer: ServerTests.tokenizer)
            .generate(prompt: ServerTests.tokenizer.encode(prompt, addSpecial: true), parameters: .greedy(maxTokens: 8),
                      adapters: [AppliedAdapter(loaded.weights)])
        try await ServerTests.withServer { h in
            let up = try await h.upload([("name", Data("my-lora".utf8))] + Self.files("lora"))
            #expect(up.status == .created, "\(String(buffer: up.body))")
            #expect(ServerTests.json(up)["version"] as? Int == 1 && ServerTests.json(up)["kind"] as? String == "LORA")
            let r = try await h.post("/v1/completions", #"{"model":"my-lora","prompt":"\#(prompt)","max_tokens":8,"temperature":0}"#)
            #expect(r.status == .ok && Self.text(r) == expected.text)
            let models = (ServerTests.json(try await h.get("/v1/models"))["data"] as? [[String: Any]])?.map { $0["id"] as? String }
            #expect(models == ["smollm2-test", "my-lora"])
            // A new upload under the same name is a new version; the list shows the newest.
            let again = try await h.upload([("name", Data("my-lora".utf8))] + Self.files("dora"))
            #expect(ServerTests.json(again)["version"] as? Int == 2)
            let list = ServerTests.json(try await h.get("/v1/adapters"))["data"] as? [[String: Any]]
            #expect(list?.count == 1 && list?.first?["version"] as? Int == 2 && list?.first?["kind"] as? String == "DORA")
            // Composition through the `adapters` extension: LoRAs add up; a DoRA does not compose.
            #expect(try await h.upload([("name", Data("other".utf8))] + Self.files("lora_patterns")).status == .created)
            let composed = try await h.post("/v1/completions", #"{"model":"smollm2-test","prompt":"hi","max_tokens":2,"adapters":[{"name":"other","weight":0.5},{"name":"my-lora","weight":0.5}]}"#)
            #expect(composed.status == .badRequest, "DoRA does not compose: \(String(buffer: composed.body))")
            #expect(try await h.upload([("name", Data("my-lora".utf8))] + Self.files("lora")).status == .created)
            let lorasAdd = try await h.post("/v1/completions", #"{"model":"smollm2-test","prompt":"hi","max_tokens":2,"adapters":[{"name":"other","weight":0.5},{"name":"my-lora","weight":0.5}]}"#)
            #expect(lorasAdd.status == .ok, "\(String(buffer: lorasAdd.body))")
            let before = String(buffer: try await h.client.execute(uri: "/metrics", method: .get).body)
            #expect(before.contains(#"model="my-lora""#))
            #expect(try await h.delete("/v1/adapters/my-lora").status == .ok)
            let after = String(buffer: try await h.client.execute(uri: "/metrics", method: .get).body)
            #expect(!after.contains(#"model="my-lora""#), "a deleted adapter's series leave /metrics")
            #expect(try await h.post("/v1/completions", #"{"model":"my-lora","prompt":"hi"}"#).status == .notFound)
        }
    }

    @Test func anotherTenantSeesNothing() async throws {
        try await ServerTests.withServer { h in
            #expect(try await h.upload([("name", Data("secret".utf8))] + Self.files("prompt_tuning")).status == .created)
            let o = h.otherKey
            #expect((ServerTests.json(try await h.get("/v1/adapters", key: o))["data"] as? [Any])?.isEmpty == true)
            #expect(try await h.get("/v1/adapters/secret", key: o).status == .notFound)
            #expect(try await h.delete("/v1/adapters/secret", key: o).status == .notFound)
            #expect(try await h.post("/v1/completions", #"{"model":"secret","prompt":"hi"}"#, key: o).status == .notFound)
            #expect(try await h.post("/v1/chat/completions", #"{"model":"secret","messages":[{"role":"user","content":"hi"}]}"#, key: o).status == .notFound)
            // Its own adapter of the same name is its own; the first tenant's stays as it was.
            #expect(try await h.upload([("name", Data("secret".utf8))] + Self.files("lora"), key: o).status == .created)
            let mine = ServerTests.json(try await h.get("/v1/adapters/secret"))
            #expect(mine["kind"] as? String == "PROMPT_TUNING" && mine["version"] as? Int == 1)
            // Names that try to be paths.
            for name in ["../secret", "..", "a/b", "", String(repeating: "x", count: 65), ".hidden"] {
                #expect(try await h.upload([("name", Data(name.utf8))] + Self.files("lora"), key: o).status == .badRequest, "\(name)")
            }
            #expect(try await h.get("/v1/adapters/..%2Fsecret", key: o).status == .notFound)
        }
    }

    @Test func badUploadsAreRefusedClearly() async throws {
        try await ServerTests.withServer { h in
            var files = try Self.files("lora")
            // Corrupt safetensors: a header length far past the end.
            files[1].1 = Data([0xff, 0xff, 0, 0, 0, 0, 0, 0]) + files[1].1.dropFirst(8)
            let corrupt = try await h.upload([("name", Data("x".utf8))] + files)
            #expect(corrupt.status == .unprocessableContent && ServerTests.error(corrupt)["code"] as? String == "adapter_refused")
            let full = try Self.files("lora")
            #expect(try await h.upload([("name", Data("x".utf8))] + full, truncate: 500).status == .badRequest)
            #expect(try await h.upload([("name", Data("x".utf8)), full[0]]).status == .badRequest, "weights missing")
            #expect(try await h.post("/v1/adapters", "{}").status == .badRequest, "not multipart")
            // A byte over 0x7f in a part's header name (it once trapped the parser; Fuzz/regressions/multipart).
            let bent = try await h.client.execute(
                uri: "/v1/adapters", method: .post,
                headers: [.authorization: "Bearer \(h.key)", .contentType: "multipart/form-data; boundary=B"],
                body: ByteBuffer(bytes: Array("--B\r\nContent-Disp".utf8) + [0x93] + Array("osition: form-data; name=\"name\"\r\n\r\nx\r\n--B--\r\n".utf8)))
            #expect(bent.status == .badRequest && (ServerTests.error(bent)["message"] as? String)?.contains("part header") == true)
            let big = try await h.upload([("name", Data("x".utf8)), ("adapter_model", Data(count: 9 << 20))])
            #expect(big.status == .contentTooLarge)
            #expect((ServerTests.json(try await h.get("/v1/adapters"))["data"] as? [Any])?.isEmpty == true, "nothing was stored")
        }
    }

    @Test func archivesUpload() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-tar-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        func run(_ args: [String]) throws {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = args
            p.currentDirectoryURL = Self.fixtures
            try p.run()
            p.waitUntilExit()
        }
        let tar = dir.appendingPathComponent("a.tar"), tzst = dir.appendingPathComponent("a.tar.zst")
        try run(["tar", "-cf", tar.path, "prefix_tuning"])
        try run(["sh", "-c", "tar -cf - lora | zstd -q -c > '\(tzst.path)'"])  // a stream: no content size in the frame
        // A zstd bomb: 64 MiB of zeros in a few kilobytes.
        let bomb = dir.appendingPathComponent("bomb.zst")
        try run(["sh", "-c", "head -c 67108864 /dev/zero | zstd -q -19 -c > '\(bomb.path)'"])
        try await ServerTests.withServer { h in
            let a = try await h.upload([("name", Data("from-tar".utf8)), ("file", try Data(contentsOf: tar))])
            #expect(a.status == .created && ServerTests.json(a)["kind"] as? String == "PREFIX_TUNING", "\(String(buffer: a.body))")
            let b = try await h.upload([("name", Data("from-tzst".utf8)), ("file", try Data(contentsOf: tzst))])
            #expect(b.status == .created && ServerTests.json(b)["kind"] as? String == "LORA", "\(String(buffer: b.body))")
            let c = try await h.upload([("name", Data("bomb".utf8)), ("file", try Data(contentsOf: bomb))])
            #expect(c.status == .unprocessableContent && (ServerTests.error(c)["message"] as? String)?.contains("limit") == true)
            let r = try await h.post("/v1/completions", #"{"model":"from-tar","prompt":"hi","max_tokens":3}"#)
            #expect(r.status == .ok)
        }
    }
}
