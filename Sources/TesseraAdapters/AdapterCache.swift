import Foundation
import TesseraModel

/// Adapters in RAM, least recently used evicted first under a byte budget (DESIGN 3.4). Requests get the
/// `AdapterWeights` object itself and keep it while they run, so an adapter replaced, deleted or evicted meanwhile
/// stays alive for them (Swift's reference counts) and is freed after the last one finishes. A miss reads the store
/// off the caller's task executor, on a detached task, and concurrent misses for one id share that read, so loading
/// never holds up the engine or other requests.
public actor AdapterCache {
    public nonisolated let store: AdapterStore
    public let config: ModelConfig
    public let budgetBytes: Int

    private struct Entry {
        let weights: AdapterWeights
        let bytes: Int
        var lastUse: UInt64
    }

    private var entries: [String: Entry] = [:]
    private var loading: [String: Task<AdapterWeights, Error>] = [:]
    private var clock: UInt64 = 0
    public private(set) var residentBytes = 0

    public init(store: AdapterStore, config: ModelConfig, budgetBytes: Int) {
        self.store = store
        self.config = config
        self.budgetBytes = budgetBytes
    }

    /// The adapter stored under `id`, from RAM or read from the store.
    public func weights(id: String) async throws -> AdapterWeights {
        clock += 1
        if var e = entries[id] {
            e.lastUse = clock
            entries[id] = e
            return e.weights
        }
        if let pending = loading[id] { return try await pending.value }
        let store = store, config = config
        let task = Task.detached(priority: .userInitiated) { () throws -> AdapterWeights in
            try store.read(id: id, config: config).weights
        }
        loading[id] = task
        defer { loading[id] = nil }
        let weights = try await task.value
        insert(id, weights)
        return weights
    }

    private func insert(_ id: String, _ weights: AdapterWeights) {
        clock += 1
        let bytes = weights.bytes
        if let old = entries[id] { residentBytes -= old.bytes }
        entries[id] = Entry(weights: weights, bytes: bytes, lastUse: clock)
        residentBytes += bytes
        while residentBytes > budgetBytes, entries.count > 1,
              let victim = entries.filter({ $0.key != id }).min(by: { $0.value.lastUse < $1.value.lastUse }) {
            residentBytes -= victim.value.bytes
            entries[victim.key] = nil
        }
    }

    /// Forgets `id` (deleted or replaced); requests holding it finish on it.
    public func remove(id: String) {
        if let e = entries.removeValue(forKey: id) { residentBytes -= e.bytes }
    }

    public var count: Int { entries.count }

    public func isResident(id: String) -> Bool { entries[id] != nil }
}
