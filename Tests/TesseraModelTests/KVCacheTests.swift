import Testing
import TesseraModel
import TesseraTestSupport

@Suite struct KVCacheTests {
    static let model = try! ModelRegistry.load(TestModel.gguf)

    @Test func blocksAreTakenAsPositionsGrowAndGivenBack() throws {
        let m = Self.model
        let pool = m.makeBlockPool(bytes: 10 * KVBlockPool.bytesPerBlock(layers: 30, width: 192, blockTokens: 16))
        #expect(pool.totalBlocks == 10 && pool.freeBlocks == 10 && pool.usage == 0)
        var cache: KVCache? = KVCache(pool: pool, capacity: 100)
        _ = try m.forward(tokens: Array(repeating: 504, count: 17), cache: cache!, outputs: [])
        #expect(cache!.blockCount == 2 && pool.freeBlocks == 8 && pool.usage == 0.2)
        _ = try m.forward(tokens: Array(repeating: 504, count: 15), cache: cache!, outputs: [])
        #expect(cache!.count == 32 && cache!.blockCount == 2, "32 positions fill two blocks exactly")
        cache!.truncate(to: 16)
        #expect(cache!.blockCount == 1 && pool.freeBlocks == 9)
        cache = nil
        #expect(pool.freeBlocks == 10, "a released cache gives its blocks back")
    }

    @Test func aFullPoolIsAnErrorAndChangesNothing() throws {
        let m = Self.model
        let pool = m.makeBlockPool(bytes: 2 * KVBlockPool.bytesPerBlock(layers: 30, width: 192, blockTokens: 16))
        let a = KVCache(pool: pool, capacity: 64), b = KVCache(pool: pool, capacity: 64)
        _ = try m.forward(tokens: Array(repeating: 504, count: 20), cache: a, outputs: [])
        #expect(throws: ModelError.self) { try m.forward(tokens: Array(repeating: 504, count: 17), cache: b, outputs: [0]) }
        do { _ = try m.forward(tokens: Array(repeating: 504, count: 17), cache: b, outputs: [0]) } catch {
            #expect(error.message == "the KV cache is full: 2 more blocks needed, 0 of 2 free")
        }
        #expect(b.count == 0 && b.blockCount == 0)
    }

    /// Where a sequence's blocks sit in the pool (here scattered among other sequences') does not change its logits.
    @Test func pagingIsInvisibleInTheLogits() throws {
        let m = Self.model
        let tokens: [Int32] = [504, 3575, 282, 4649, 314, 29, 1392, 11, 2270, 288, 1115, 42, 3575, 17, 9, 500, 77, 12, 906]
        let alone = KVCache(pool: m.makeBlockPool(bytes: 1 << 26, blockTokens: 4), capacity: 64)
        var expected: [Float] = []
        for chunk in stride(from: 0, to: tokens.count, by: 5) {
            let part = Array(tokens[chunk..<min(chunk + 5, tokens.count)])
            expected += try m.forward(tokens: part, cache: alone, outputs: Array(part.indices))
        }
        // Interleave with two other sequences in a shared pool so the blocks of the three alternate.
        let pool = m.makeBlockPool(bytes: 1 << 26, blockTokens: 4)
        let mine = KVCache(pool: pool, capacity: 64)
        let others = [KVCache(pool: pool, capacity: 64), KVCache(pool: pool, capacity: 64)]
        var got: [Float] = []
        for chunk in stride(from: 0, to: tokens.count, by: 5) {
            let part = Array(tokens[chunk..<min(chunk + 5, tokens.count)])
            for o in others { _ = try m.forward(tokens: [42, 43, 44], cache: o, outputs: []) }
            got += try m.forward(tokens: part, cache: mine, outputs: Array(part.indices))
        }
        #expect(got == expected)
    }
}
