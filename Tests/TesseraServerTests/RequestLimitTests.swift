import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import TesseraServer

/// What one request may cost: the server's max_tokens cap, a tenant's ceiling, and the request timeout.
@Suite struct RequestLimitTests {
    static func completionTokens(_ r: TestResponse) -> Int? {
        (ServerTests.json(r)["usage"] as? [String: Any])?["completion_tokens"] as? Int
    }

    @Test func theServerCapsMaxTokens() async throws {
        try await ServerTests.withServer(limits: RequestLimits(maxTokens: 8)) { h in
            let over = try await h.post("/v1/completions", #"{"model":"smollm2-test","prompt":"hi","max_tokens":9}"#)
            let error = ServerTests.error(over)
            #expect(over.status == .badRequest && error["param"] as? String == "max_tokens" && error["code"] as? String == "max_tokens_exceeded")
            #expect((error["message"] as? String)?.contains("at most 8") == true)
            let chat = try await h.post("/v1/chat/completions", #"{"model":"smollm2-test","messages":[{"role":"user","content":"Tell a long story"}],"ignore_eos":true,"temperature":0}"#)
            #expect(chat.status == .ok && Self.completionTokens(chat) == 8, "without max_tokens a chat stops at the cap")
            let at = try await h.post("/v1/completions", #"{"model":"smollm2-test","prompt":"hi","max_tokens":8,"ignore_eos":true}"#)
            #expect(at.status == .ok && Self.completionTokens(at) == 8)
        }
    }

    @Test func aTenantCeilingComesFromTheAdminAPI() async throws {
        try await ServerTests.withServer { h in
            let created = try await h.post("/admin/tenants", #"{"name":"frugal","max_tokens":5}"#, key: ServerTests.adminKey)
            #expect(created.status == .created && ServerTests.json(created)["max_tokens"] as? Int == 5)
            let key = try #require(ServerTests.json(created)["api_key"] as? String)
            let over = try await h.post("/v1/chat/completions", #"{"model":"smollm2-test","messages":[{"role":"user","content":"hi"}],"max_tokens":6}"#, key: key)
            #expect(over.status == .badRequest && (ServerTests.error(over)["message"] as? String)?.contains("tenant 'frugal'") == true)
            let open = try await h.post("/v1/chat/completions", #"{"model":"smollm2-test","messages":[{"role":"user","content":"Tell a long story"}],"ignore_eos":true}"#, key: key)
            #expect(Self.completionTokens(open) == 5)
            #expect(try await h.post("/v1/completions", #"{"model":"smollm2-test","prompt":"hi","max_tokens":6}"#).status == .ok, "other tenants keep the server's cap")
            let patched = try await h.client.execute(uri: "/admin/tenants/frugal", method: .patch, headers: [.authorization: "Bearer \(ServerTests.adminKey)"],
                                                     body: ByteBuffer(string: #"{"max_tokens":0}"#))
            #expect(patched.status == .badRequest, "a ceiling is at least 1, or null")
        }
    }

    @Test func aRequestPastItsTimeoutIsCancelled() async throws {
        try await ServerTests.withServer(limits: RequestLimits(timeoutSeconds: 0.3)) { h in
            let ask = #"{"model":"smollm2-test","prompt":"Once upon a time","max_tokens":600,"ignore_eos":true,"n":2"#
            let plain = try await h.post("/v1/completions", ask + "}")
            let error = ServerTests.error(plain)
            #expect(plain.status == .requestTimeout && error["code"] as? String == "request_timeout" && error["type"] as? String == "timeout_error")
            let stream = try await h.post("/v1/completions", ask + #","stream":true}"#)
            let text = String(buffer: stream.body)
            #expect(stream.status == .ok && text.contains("request_timeout") && text.hasSuffix("data: [DONE]\n\n"))
            #expect(h.engine.stats.running == 0 && h.engine.stats.waiting == 0, "the engine dropped both requests' sequences")
        }
    }
}
