import Foundation
import Testing
import TesseraFormats
import TesseraKernels
import TesseraModel
import TesseraTestSupport

@Suite struct DecoderModelTests {
    @Test func configIsReadFromMetadata() throws {
        let m = try ModelRegistry.load(TestModel.gguf)
        let c = m.config
        #expect(c.architecture == "llama")
        #expect([c.layers, c.hidden, c.heads, c.kvHeads, c.headDim, c.ffn, c.vocab] as [Int] == [30, 576, 9, 3, 64, 1536, 49152])
        #expect(c.rope.theta == 100000)
        #expect(c.rmsEps == 1e-5)
    }

    /// Loading releases the pages of tensors it copied; a second load from the same mapping reads them back intact.
    @Test func reloadingFromTheSameMappingGivesTheSameModel() throws {
        let a = try ModelRegistry.load(TestModel.gguf), b = try ModelRegistry.load(TestModel.gguf)
        let tokens: [Int32] = [504, 3575, 282, 4649, 314]
        let la = try a.forward(tokens: tokens, cache: a.makeCache(capacity: 8), outputs: [4])
        let lb = try b.forward(tokens: tokens, cache: b.makeCache(capacity: 8), outputs: [4])
        #expect(la == lb)
    }

    @Test func forwardRejectsBadInput() throws {
        let m = try ModelRegistry.load(TestModel.gguf)
        let cache = m.makeCache(capacity: 4)
        #expect(throws: ModelError.self) { try m.forward(tokens: [], cache: cache, outputs: []) }
        #expect(throws: ModelError.self) { try m.forward(tokens: [49152], cache: cache, outputs: [0]) }
        #expect(throws: ModelError.self) { try m.forward(tokens: [-1], cache: cache, outputs: [0]) }
        #expect(throws: ModelError.self) { try m.forward(tokens: [1, 2, 3, 4, 5], cache: cache, outputs: [0]) }
        #expect(throws: ModelError.self) { try m.forward(tokens: [1], cache: cache, outputs: [1]) }
        #expect(cache.count == 0, "a refused call leaves the cache as it was")
    }

    @Test func unknownArchitectureIsNamed() throws {
        // The quantization fixture declares architecture "test".
        let gguf = try GGUFFile(path: TestModel.repositoryRoot.appendingPathComponent("Tests/TesseraFormatsTests/Fixtures/quants.gguf").path)
        #expect(throws: ModelError.self) { try ModelRegistry.load(gguf) }
        do { _ = try ModelRegistry.load(gguf) } catch { #expect(error.message.contains("architecture 'test' is not supported")) }
    }
}
