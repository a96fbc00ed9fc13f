import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// Tenants managed through the admin API, and their limits enforced.
@Suite struct AdminAPITests {
    @Test func tenantsKeysAndLimits() async throws {
        try await ServerTests.withServer { h in
            let admin = ServerTests.adminKey
            #expect(try await h.get("/admin/tenants").status == .unauthorized, "a tenant key is not the admin key")
            let created = try await h.post("/admin/tenants", #"{"name":"initech","weight":2,"requests_per_minute":2}"#, key: admin)
            let info = ServerTests.json(created)
            #expect(created.status == .created && info["weight"] as? Double == 2 && info["requests_per_minute"] as? Int == 2)
            let key = try #require(info["api_key"] as? String)
            let ask = #"{"model":"smollm2-test","prompt":"hi","max_tokens":1}"#
            // Three at once: the limit counts them as they arrive, so however long a completion takes on a busy
            // machine (the window refills one request every 30 s), one of the three is over it.
            async let first = h.post("/v1/completions", ask, key: key)
            async let second = h.post("/v1/completions", ask, key: key)
            async let third = h.post("/v1/completions", ask, key: key)
            let answers = try await [first, second, third]
            #expect(answers.filter { $0.status == .ok }.count == 2)
            let limited = try #require(answers.first { $0.status == .tooManyRequests })
            #expect(limited.headers[HTTPField.Name("retry-after")!] != nil)
            #expect(ServerTests.error(limited)["code"] as? String == "rate_limit_exceeded")
            // Limits change at once; null clears one.
            #expect(try await h.client.execute(uri: "/admin/tenants/initech", method: .patch,
                                                headers: [.authorization: "Bearer \(admin)"],
                                                body: ByteBuffer(string: #"{"requests_per_minute":null,"tokens_per_minute":1}"#)).status == .ok)
            #expect(try await h.post("/v1/completions", ask, key: key).status == .tooManyRequests, "over the token limit now")
            // A rotated key replaces the old one; a revoked tenant has none.
            let rotated = ServerTests.json(try await h.post("/admin/tenants/initech/rotate_key", "", key: admin))
            let newKey = try #require(rotated["api_key"] as? String)
            #expect(try await h.get("/v1/models", key: key).status == .unauthorized)
            #expect(try await h.get("/v1/models", key: newKey).status == .ok)
            #expect(try await h.post("/admin/tenants/initech/revoke", "", key: admin).status == .ok)
            #expect(try await h.get("/v1/models", key: newKey).status == .unauthorized)
            // Bad settings and unknown tenants.
            #expect(try await h.post("/admin/tenants", #"{"name":"../x"}"#, key: admin).status == .badRequest)
            #expect(try await h.post("/admin/tenants", #"{"name":"initech"}"#, key: admin).status == .badRequest, "exists")
            #expect(try await h.post("/admin/tenants/nobody/rotate_key", "", key: admin).status == .notFound)
            let names = (ServerTests.json(try await h.get("/admin/tenants", key: admin))["data"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
            #expect(names == ["acme", "globex", "initech"])
        }
    }

    /// vLLM's load/unload endpoints: adapters from inside --lora-dir, usable by every tenant, nothing outside it.
    @Test func loadLoRAAdapterFromTheConfiguredDirectory() async throws {
        try await ServerTests.withServer { h in
            let admin = ServerTests.adminKey
            #expect(try await h.post("/v1/load_lora_adapter", #"{"lora_name":"house","lora_path":"lora"}"#).status == .unauthorized)
            let loaded = try await h.post("/v1/load_lora_adapter", #"{"lora_name":"house","lora_path":"lora"}"#, key: admin)
            #expect(loaded.status == .ok, "\(String(buffer: loaded.body))")
            for key in [h.key, h.otherKey] {
                let ids = (ServerTests.json(try await h.get("/v1/models", key: key))["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String }
                #expect(ids == ["smollm2-test", "house"])
                #expect(try await h.post("/v1/completions", #"{"model":"house","prompt":"hi","max_tokens":2}"#, key: key).status == .ok)
            }
            #expect(try await h.delete("/v1/adapters/house").status == .notFound, "a tenant cannot delete a shared adapter")
            for path in ["../../../etc", "/etc", "lora/../../..", "missing"] {
                let r = try await h.post("/v1/load_lora_adapter", #"{"lora_name":"x","lora_path":"\#(path)"}"#, key: admin)
                #expect(r.status == .badRequest || r.status == .notFound, "\(path): \(r.status)")
            }
            #expect(try await h.post("/v1/unload_lora_adapter", #"{"lora_name":"house"}"#, key: admin).status == .ok)
            #expect(try await h.post("/v1/completions", #"{"model":"house","prompt":"hi"}"#).status == .notFound)
            #expect(try await h.post("/v1/unload_lora_adapter", #"{"lora_name":"house"}"#, key: admin).status == .notFound)
        }
    }
}
