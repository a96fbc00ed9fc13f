import Foundation
import Testing
import TesseraAdapters
import TesseraKernels
import TesseraModel

@Suite struct AdapterStoreTests {
    static let model = AdapterParityTests.model

    func temporaryStore() throws -> AdapterStore {
        try AdapterStore(directory: FileManager.default.temporaryDirectory.appendingPathComponent("tessera-store-\(UUID().uuidString)"))
    }

    static func sameDeltas(_ x: AdapterWeights, _ y: AdapterWeights) -> Bool {
        zip(x.deltas.joined(), y.deltas.joined()).allSatisfy { d, e in
            guard let d, let e else { return d == nil && e == nil }
            let (dv, ev) = (d.values(), e.values())
            return d.precision == e.precision && dv.a == ev.a && dv.bt == ev.bt && d.doraScale == e.doraScale
        }
    }

    /// The internal form keeps every number: the same logprobs, bit for bit, from the PEFT files and from the store,
    /// in either precision (fp32 deltas are stored exactly; fp16 ones are fp32 values that convert back exactly).
    @Test(arguments: AdapterParityTests.kinds.map(\.0), [LowRankDelta.Precision.f32, .f16])
    func storeRoundTripsEveryKind(name: String, precision: LowRankDelta.Precision) throws {
        let store = try temporaryStore()
        defer { try? FileManager.default.removeItem(at: store.directory) }
        let original = try AdapterParityTests.load(name, precision: precision)
        try store.write(original, id: "a1")
        let back = try store.read(id: "a1", config: Self.model.config, precision: precision)
        #expect(back.kind == original.kind)
        #expect(Self.sameDeltas(original.weights, back.weights))
        #expect(back.weights.virtualTokens == original.weights.virtualTokens && back.weights.prefix == original.weights.prefix)
        let tokens = AdapterParityTests.fixture.texts[1].tokens
        #expect(try Scoring.logprobs(model: Self.model, tokens: tokens, adapters: [AppliedAdapter(back.weights)])
                == Scoring.logprobs(model: Self.model, tokens: tokens, adapters: [AppliedAdapter(original.weights)]))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: store.directory.path)
        #expect(leftovers == ["a1.tsa.zst"], "no temporary files are left behind")
    }

    @Test func damagedFilesAndBadIDsAreErrors() throws {
        let store = try temporaryStore()
        defer { try? FileManager.default.removeItem(at: store.directory) }
        try store.write(try AdapterParityTests.load("prompt_tuning"), id: "p")
        let file = store.directory.appendingPathComponent("p.tsa.zst")
        let bytes = try Data(contentsOf: file)
        try bytes.prefix(bytes.count / 2).write(to: file)
        #expect(throws: AdapterError("p.tsa.zst: corrupt zstd data (Src size is incorrect)")) {
            try store.read(id: "p", config: Self.model.config)
        }
        try Data("not zstd".utf8).write(to: file)
        #expect(throws: AdapterError("p.tsa.zst: not a Tessera adapter file")) { try store.read(id: "p", config: Self.model.config) }
        #expect(throws: AdapterError("adapter id '../etc/passwd' is not a store id")) {
            try store.read(id: "../etc/passwd", config: Self.model.config)
        }
        #expect(throws: AdapterError("adapter 'missing' is not in the store")) { try store.read(id: "missing", config: Self.model.config) }
        try store.delete(id: "p")
        #expect(!store.contains(id: "p"))
    }

    @Test func cacheEvictsTheLeastRecentlyUsedAndInFlightCopiesSurvive() async throws {
        let store = try temporaryStore()
        defer { try? FileManager.default.removeItem(at: store.directory) }
        let prompt = try AdapterParityTests.load("prompt_tuning"), prefix = try AdapterParityTests.load("prefix_tuning")
        for id in ["a", "b", "c"] { try store.write(prompt, id: id) }
        let one = prompt.weights.bytes
        let cache = AdapterCache(store: store, config: Self.model.config, budgetBytes: 2 * one)
        let a = try await cache.weights(id: "a")
        _ = try await cache.weights(id: "b")
        _ = try await cache.weights(id: "a")  // b is now the least recently used
        _ = try await cache.weights(id: "c")
        let (ra, rb, rc) = (await cache.isResident(id: "a"), await cache.isResident(id: "b"), await cache.isResident(id: "c"))
        #expect(ra && !rb && rc)
        #expect(await cache.residentBytes == 2 * one)
        // Replacing "a" on disk and in the cache leaves the copy a request already holds untouched.
        try store.write(prefix, id: "a")
        await cache.remove(id: "a")
        let newA = try await cache.weights(id: "a")
        #expect(a.virtualTokenCount == 6 && newA.prefixTokenCount == 4 && a !== newA)
        // Concurrent misses for one id get one object.
        await cache.remove(id: "b")
        async let x = cache.weights(id: "b")
        async let y = cache.weights(id: "b")
        let (bx, by) = try await (x, y)
        #expect(bx === by)
    }
}
