import Foundation
import TesseraEngine
import TesseraModel

/// Figures measured through the engine (continuous batching, scheduler, sampling), as a server would run.
enum EngineBench {
    /// Aggregate decode tokens/s of requests running together: tokens sampled from the moment the last of them got
    /// its first token (every prompt is in) until the last one ends, over that time.
    static func decodeRate(_ engine: Engine, _ requests: [EngineRequest]) async throws -> Double {
        let streams = try requests.map { try engine.submit($0) }
        let times = await withTaskGroup(of: [ContinuousClock.Instant].self) { group in
            for s in streams {
                group.addTask {
                    var t: [ContinuousClock.Instant] = []
                    for await e in s { if case .token = e { t.append(.now) } }
                    return t
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        let start = times.compactMap(\.first).max()!, end = times.compactMap(\.last).max()!
        let tokens = times.reduce(0) { $0 + $1.filter { $0 > start }.count }
        return Double(tokens) / (end - start).seconds
    }

    /// Time to the first token of a short request that arrives while a long prompt is being prefilled.
    static func ttftBehindLongPrompt(_ engine: Engine, prompt: (Int, Int) -> [Int32], longTokens: Int) async throws -> Double {
        let long = try engine.submit(EngineRequest(prompt: prompt(longTokens, 7), parameters: .greedy(maxTokens: 1), tenant: "long"))
        let reader = Task { for await _ in long {} }
        while engine.stats.running == 0 { try await Task.sleep(for: .microseconds(200)) }  // its prefill has begun
        let t0 = ContinuousClock.now
        let short = try engine.submit(EngineRequest(prompt: prompt(16, 8), parameters: .greedy(maxTokens: 1), tenant: "short"))
        var ttft = 0.0
        for await e in short { if case .token = e, ttft == 0 { ttft = (ContinuousClock.now - t0).seconds } }
        await reader.value
        return ttft * 1000
    }

    /// Mean end-to-end time of a light tenant's requests (one after another: 32-token prompt, 32 new tokens), alone
    /// and beside a flood from another tenant of the same weight (200 requests queued at once).
    static func lightTenantLatency(_ engine: Engine, prompt: (Int, Int) -> [Int32]) async throws -> LightTenantFigures {
        var p = SamplingParameters.greedy(maxTokens: 32)
        p.ignoreEOS = true
        func light() async throws -> Double {
            var total = 0.0
            for i in 0..<5 {
                let t0 = ContinuousClock.now
                for await _ in try engine.submit(EngineRequest(prompt: prompt(32, 100 + i), parameters: p, tenant: "light")) {}
                total += (ContinuousClock.now - t0).seconds
            }
            return total / 5 * 1000
        }
        let alone = try await light()
        var flood = SamplingParameters.greedy(maxTokens: 64)
        flood.ignoreEOS = true
        let streams = try (0..<200).map { try engine.submit(EngineRequest(prompt: prompt(128, 200 + $0), parameters: flood, tenant: "flood")) }
        while engine.stats.running < 32 { try await Task.sleep(for: .milliseconds(5)) }  // the flood is under way
        let beside = try await light()
        withExtendedLifetime(streams) {}
        return LightTenantFigures(alone_ms: alone, beside_flood_ms: beside)
    }

    /// Submits `count` requests as fast as possible to an engine whose queue holds `maxWaiting`: how many were
    /// refused, and the peak RSS before and after (a bounded queue keeps memory flat however many arrive).
    static func flood(_ engine: Engine, count: Int, prompt: [Int32]) async throws -> FloodFigures {
        let before = peakRSS()
        var accepted: [AsyncStream<EngineEvent>] = []
        var refused = 0
        for _ in 0..<count {
            do { accepted.append(try engine.submit(EngineRequest(prompt: prompt, parameters: .greedy(maxTokens: 4)))) } catch {
                guard error.kind == .queueFull else { throw error }
                refused += 1
            }
        }
        accepted.removeAll()  // cancels them
        while engine.stats.running + engine.stats.waiting > 0 { try await Task.sleep(for: .milliseconds(5)) }
        return FloodFigures(submitted: count, refused: refused, peak_rss_before_bytes: before, peak_rss_after_bytes: peakRSS())
    }
}

struct LightTenantFigures: Codable {
    let alone_ms: Double
    let beside_flood_ms: Double
}

struct FloodFigures: Codable {
    let submitted: Int
    let refused: Int
    let peak_rss_before_bytes: Int
    let peak_rss_after_bytes: Int
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
