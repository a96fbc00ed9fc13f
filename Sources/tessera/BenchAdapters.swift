import Foundation
import TesseraAdapters
import TesseraModel

/// Adapter memory and cold-load figures for `tessera bench`: many adapters registered on disk cost
/// no RAM until the cache loads them, and a cold rank-16 all-linear LoRA is ready to serve in a few milliseconds.
struct AdapterBench: Codable {
    let registered: Int
    let store_bytes: Int
    let rss_growth_registering_bytes: Int
    let cached: Int
    let cache_resident_bytes: Int
    let rss_growth_caching_bytes: Int
    let r16_all_linear_bytes: Int
    /// Median of 9 loads from the store: memory recycled from the previous load, as in a server evicting and loading.
    let r16_all_linear_cold_load_ms: Double
    /// The first load, into fresh pages.
    let r16_all_linear_first_load_ms: Double

    static func run(model: any LanguageModel, registered: Int) async throws -> AdapterBench {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-bench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try AdapterStore(directory: dir)
        let c = model.config
        var random = RandomAdapters(config: c)
        func lora(rank: Int, _ projections: [Projection]) -> LoadedAdapter {
            LoadedAdapter(kind: .lora, weights: random.lora(rank: rank, projections), warnings: [])
        }

        let before = currentRSS()
        var storeBytes = 0
        let small = lora(rank: 1, [.q])  // one adapter's worth of tensors, written under many ids
        for i in 0..<registered { storeBytes += try store.write(small, id: "a\(i)") }
        let afterRegistering = currentRSS()

        let cache = AdapterCache(store: store, config: c, budgetBytes: 64 << 20)
        let cached = min(8, registered)
        for i in 0..<cached { _ = try await cache.weights(id: "a\(i)") }
        let afterCaching = currentRSS()
        let resident = await cache.residentBytes

        let big = lora(rank: 16, Projection.allCases)
        try store.write(big, id: "big")
        var times: [Double] = []
        for _ in 0..<9 {
            let t = Date()
            _ = try store.read(id: "big", config: c)
            times.append(Date().timeIntervalSince(t) * 1000)
        }
        return AdapterBench(
            registered: registered, store_bytes: storeBytes, rss_growth_registering_bytes: afterRegistering - before,
            cached: cached, cache_resident_bytes: resident, rss_growth_caching_bytes: afterCaching - afterRegistering,
            r16_all_linear_bytes: big.weights.bytes, r16_all_linear_cold_load_ms: times.sorted()[times.count / 2],
            r16_all_linear_first_load_ms: times[0])
    }
}

/// Resident set size now (/proc/self/statm), for growth figures.
func currentRSS() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
          let pages = text.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}
