import Foundation

/// Sends one planned request as a streamed completion and measures it the way `vllm bench serve` does: TTFT at the
/// first chunk with choices, one inter-token gap per further chunk, latency at the last chunk with choices, output
/// tokens from `usage` (from any chunk that carries it, so servers that put usage beside the last choice count too).
struct RequestRunner: Sendable {
    let transport: any Transport
    let scenario: Scenario
    let baseModel: String
    /// Key per tenant index.
    let keys: [String?]
    let runID: String
    let runStart: Double
    let counters: LiveCounters

    func body(for r: PlannedRequest) -> [UInt8] {
        var o: [String: Any] = [
            "model": r.adapter ?? baseModel,
            "max_tokens": r.outputLength,
            "temperature": scenario.temperature,
            "stream": true,
            "stream_options": ["include_usage": true],
        ]
        if scenario.ignore_eos { o["ignore_eos"] = true }
        if scenario.endpoint == "/v1/chat/completions" {
            let text: String
            switch r.prompt {
            case .text(let s): text = s
            case .tokens(let ids): text = ids.map(String.init).joined(separator: " ")
            }
            o["messages"] = [["role": "user", "content": text]]
        } else {
            switch r.prompt {
            case .text(let s): o["prompt"] = s
            case .tokens(let ids): o["prompt"] = ids
            }
        }
        return Array((try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])) ?? Data())
    }

    func run(_ r: PlannedRequest) async -> RequestOutcome {
        var out = RequestOutcome(index: r.index, tenant: r.tenant, adapter: r.adapter)
        out.promptTokens = r.inputLength
        var headers = [("content-type", "application/json"), ("x-request-id", "\(runID)-\(r.index)")]
        if let key = keys.indices.contains(r.tenant) ? keys[r.tenant] : nil { headers.append(("authorization", "Bearer \(key)")) }
        let spec = HTTPRequestSpec(method: "POST", path: scenario.endpoint, headers: headers, body: body(for: r))
        let start = monotonicSeconds()
        out.sent = start - runStart
        let timeout = scenario.timeout, initial = out
        do {
            out = try await withThrowingTaskGroup(of: RequestOutcome?.self) { group in
                group.addTask { try await stream(spec, into: initial, start: start) }
                group.addTask {
                    try await Task.sleep(for: .seconds(timeout))
                    return nil
                }
                let first = try await group.next()!
                group.cancelAll()
                guard let done = first else { throw TimedOut() }
                return done
            }
        } catch is TimedOut {
            out.failure = "timeout"
            out.error = "no complete answer within \(timeout) s"
        } catch {
            out.failure = "connection"
            out.error = "\(error)"
        }
        return out
    }

    private struct TimedOut: Error {}

    private func stream(_ spec: HTTPRequestSpec, into start: RequestOutcome, start t0: Double) async throws -> RequestOutcome {
        var out = start
        let response = try await transport.send(spec)
        out.status = response.status
        guard response.status == 200 else {
            let body = (try? await response.collect(limit: 1 << 16)) ?? []
            out.failure = String(response.status)
            out.error = Self.errorMessage(body) ?? "HTTP \(response.status)"
            return out
        }
        do {
            return try await read(response, into: out, start: t0)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            // The answer began (status 200) and then broke off: a reset stream or a dropped connection.
            out.failure = "stream"
            out.error = "the answer broke off: \(error)"
            return out
        }
    }

    private func read(_ response: HTTPStreamingResponse, into start: RequestOutcome, start t0: Double) async throws -> RequestOutcome {
        var out = start
        var parser = SSEParser()
        var last = t0, chunks = 0
        while let bytes = try await response.next() {
            for event in try parser.feed(bytes) {
                if event == Array("[DONE]".utf8) { continue }
                guard let o = (try? JSONSerialization.jsonObject(with: Data(event))) as? [String: Any] else {
                    out.failure = "stream"
                    out.error = "a stream event is not JSON: \(String(decoding: event.prefix(200), as: UTF8.self))"
                    return out
                }
                if let e = o["error"] {
                    out.failure = "stream"
                    out.error = Self.errorMessage(e) ?? "error event in the stream"
                    return out
                }
                if let choices = o["choices"] as? [[String: Any]], let first = choices.first {
                    let now = monotonicSeconds()
                    if chunks == 0 { out.ttft = now - t0 } else { out.itl.append(now - last) }
                    last = now
                    chunks += 1
                    counters.chunk()
                    if let text = first["text"] as? String {
                        out.generatedText += text
                    } else if let delta = first["delta"] as? [String: Any], let text = delta["content"] as? String {
                        out.generatedText += text
                    }
                }
                if let usage = o["usage"] as? [String: Any] {
                    if let n = usage["completion_tokens"] as? Int { out.outputTokens = n; out.usageReported = true }
                    if let n = usage["prompt_tokens"] as? Int { out.promptTokens = n }
                }
            }
        }
        guard chunks > 0 else {
            out.failure = "stream"
            out.error = "never received a chunk with choices to measure TTFT"
            return out
        }
        out.latency = last - t0
        if !out.usageReported { out.outputTokens = chunks }
        out.success = true
        return out
    }

    /// The `message` of an OpenAI-shaped error (`{"error": {"message": ...}}`), or the body as text.
    static func errorMessage(_ body: Any) -> String? {
        if let bytes = body as? [UInt8] {
            guard !bytes.isEmpty else { return nil }
            if let o = try? JSONSerialization.jsonObject(with: Data(bytes)) { return errorMessage(o) ?? String(decoding: bytes.prefix(500), as: UTF8.self) }
            return String(decoding: bytes.prefix(500), as: UTF8.self)
        }
        if let s = body as? String { return s }
        if let o = body as? [String: Any] {
            if let e = o["error"] { return errorMessage(e) }
            if let m = o["message"] as? String { return m }
        }
        return nil
    }
}
