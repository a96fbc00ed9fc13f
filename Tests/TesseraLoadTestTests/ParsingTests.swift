import Foundation
import Testing
import TesseraLoadTest

@Suite struct ParsingTests {
    @Test func sseEventsSurviveAnySplit() throws {
        let stream = Array("data: {\"a\":1}\n\n: comment\r\ndata: {\"b\":\r\ndata: 2}\r\n\r\nevent: x\ndata: [DONE]\n\n".utf8)
        for size in 1...stream.count {
            var p = SSEParser()
            var events: [String] = []
            var i = 0
            while i < stream.count {
                events += try p.feed(Array(stream[i..<min(i + size, stream.count)])).map { String(decoding: $0, as: UTF8.self) }
                i += size
            }
            #expect(events == ["{\"a\":1}", "{\"b\":\n2}", "[DONE]"])
        }
    }

    @Test func anEndlessLineIsRefused() {
        var p = SSEParser(maxLine: 100)
        #expect(throws: LoadTestError.self) { _ = try p.feed(Array(repeating: 65, count: 200)) }
    }

    @Test func baseURLs() throws {
        let a = try BaseURL("http://127.0.0.1:8080/")
        #expect(a.host == "127.0.0.1" && a.port == 8080 && a.pathPrefix == "")
        let b = try BaseURL("http://gateway.local/tenant-a")
        #expect(b.port == 80 && b.pathPrefix == "/tenant-a")
        let c = try BaseURL("http://[::1]:9000")
        #expect(c.host == "::1" && c.origin == "http://[::1]:9000")
        for bad in ["127.0.0.1:8080", "https://x", "http://:80", "http://x:99999", "http://x:port"] {
            #expect(throws: LoadTestError.self) { try BaseURL(bad) }
        }
    }

    @Test func committedScenariosLoadAndValidate() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../loadtest/scenarios").standardized
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".json") }
        #expect(files.count >= 3)
        for f in files {
            let s = try Scenario.load(path: dir.appendingPathComponent(f).path)
            try s.validate()
            #expect(s.name + ".json" == f)
        }
    }

    @Test func scenarioFieldsDefaultAndErrorsNameTheField() throws {
        let s = try JSONDecoder().decode(Scenario.self, from: Data(#"{"num_prompts": 5, "adapters": {"distribution": "skewed"}}"#.utf8))
        #expect(s.num_prompts == 5 && s.random_input_len == 128 && s.adapters.distribution == .skewed && s.adapters.zipf_s == 1.5)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lt-\(UUID()).json").path
        try Data(#"{"adapters": {"distribution": "sometimes"}}"#.utf8).write(to: URL(fileURLWithPath: path))
        #expect { try Scenario.load(path: path) } throws: { ($0 as? LoadTestError)?.message.contains("adapters.distribution") == true }
        var bad = Scenario()
        bad.request_rate = 0
        #expect(throws: LoadTestError.self) { try bad.validate() }
        bad = Scenario()
        bad.num_prompts = nil
        bad.duration = 10
        #expect { try bad.validate() } throws: { ($0 as? LoadTestError)?.message.contains("max_concurrency") == true }
        bad = Scenario()
        bad.adapters.target_modules = ["lm_head"]
        #expect(throws: LoadTestError.self) { try bad.validate() }
        bad = Scenario()
        bad.tenants = [TenantSpec(name: "a"), TenantSpec(name: "a")]
        #expect(throws: LoadTestError.self) { try bad.validate() }
    }

    @Test func randomLoRAsAreValidSafetensors() throws {
        var mix = AdapterMix()
        mix.rank = 4
        mix.target_modules = ["q_proj", "v_proj", "down_proj"]
        let base = BaseShape(hidden_size: 12, intermediate_size: 20, num_hidden_layers: 2, num_attention_heads: 3,
                             num_key_value_heads: 1, base_model_name_or_path: "org/model")
        let lora = RandomLoRA(mix: mix, base: base)
        let bytes = lora.safetensors(index: 3)
        #expect(bytes == lora.safetensors(index: 3))
        #expect(bytes != lora.safetensors(index: 4))
        let n = Int(bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        #expect(n % 8 == 0)
        let header = try #require(try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + n)])) as? [String: Any])
        var end = 0
        var shapes: [String: [Int]] = [:]
        for (name, value) in header where name != "__metadata__" {
            let t = try #require(value as? [String: Any])
            let offsets = try #require(t["data_offsets"] as? [Int]), shape = try #require(t["shape"] as? [Int])
            #expect(offsets[1] - offsets[0] == shape.reduce(4, *))
            end = max(end, offsets[1])
            shapes[name] = shape
        }
        #expect(8 + n + end == bytes.count)
        #expect(shapes.count == 2 * 3 * 2)
        #expect(shapes["base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight"] == [4, 4])
        #expect(shapes["base_model.model.model.layers.0.mlp.down_proj.lora_A.weight"] == [4, 20])
        let config = try #require(try JSONSerialization.jsonObject(with: Data(lora.config())) as? [String: Any])
        #expect(config["peft_type"] as? String == "LORA" && config["r"] as? Int == 4)
    }

    @Test func tenantFlag() throws {
        #expect(try TenantSpec.parseList("3").map(\.name) == ["t0", "t1", "t2"])
        let t = try TenantSpec.parseList("a:0.7:2,b:0.3")
        #expect(t == [TenantSpec(name: "a", share: 0.7, weight: 2), TenantSpec(name: "b", share: 0.3, weight: 1)])
        #expect(throws: LoadTestError.self) { try TenantSpec.parseList("a:x") }
    }

    @Test func jsonKeepsOrderAndEscapes() {
        let v = JSONValue.object([("z", .number(1)), ("a", .string("q\"\n\u{1}")), ("l", .array([.number(1.5), .null]))])
        #expect(v.serialized(indent: nil) == #"{"z":1,"a":"q\"\n\u0001","l":[1.5,null]}"#)
    }
}
