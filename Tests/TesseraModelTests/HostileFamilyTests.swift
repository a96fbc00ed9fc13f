import Foundation
import Testing
import TesseraFormats
import TesseraModel
import TesseraTestSupport

/// Crafted or damaged files of every family give one-line errors naming what is wrong, never a crash, and never a
/// model that silently computes something else.
@Suite struct HostileFamilyTests {
    static let files = ["qwen2-Q8_0", "qwen3-Q8_0", "llama31-Q8_0", "gemma3-Q8_0"]

    static func original(_ name: String) throws -> GGUFFile {
        try GGUFFile(path: TestModel.repositoryRoot.appendingPathComponent("Tests/TesseraModelTests/Fixtures/families/\(name).gguf").path)
    }

    /// Loads `bytes` as a model; returns the error's text (nil if it loaded).
    static func loadError(_ bytes: Data) -> String? {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-family-\(UUID().uuidString).gguf")
        try! bytes.write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        do {
            _ = try ModelRegistry.load(try GGUFFile(path: url.path))
            return nil
        } catch let e as ModelError {
            return e.message
        } catch {
            return "\(error)"
        }
    }

    static func expectRefused(_ name: String, containing text: String,
                              _ edit: (inout [String: GGUFValue], inout [GGUFRewriter.Tensor]) -> Void) throws {
        let bytes = try GGUFRewriter.rewrite(try original(name), edit: edit)
        let message = loadError(bytes)
        #expect(message?.contains(text) == true, "\(name): expected an error naming '\(text)', got \(message ?? "a model")")
        #expect(message?.contains("\n") != true, "\(name): one line")
    }

    @Test(arguments: files) func theRewrittenFileStillLoads(name: String) throws {
        #expect(Self.loadError(try GGUFRewriter.rewrite(try Self.original(name)) { _, _ in }) == nil)
    }

    @Test(arguments: files) func truncationsAreErrors(name: String) throws {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: try Self.original(name).path))
        for length in stride(from: 0, to: bytes.count - 64, by: max(1, bytes.count / 97)) {
            let message = Self.loadError(bytes.prefix(length))
            #expect(message != nil, "\(name) cut at \(length) bytes loaded")
            #expect(message?.contains("\n") != true)
        }
    }

    @Test(arguments: files) func inconsistentMetadataIsRefusedByKey(name: String) throws {
        let arch = try Self.original(name).metadata["general.architecture"]!.string!
        try Self.expectRefused(name, containing: "rope.scaling.type") { m, _ in m["\(arch).rope.scaling.type"] = .string("yarn") }
        try Self.expectRefused(name, containing: "head_count_kv") { m, _ in m["\(arch).attention.head_count_kv"] = .uint32(3) }
        try Self.expectRefused(name, containing: "key_length") { m, _ in m["\(arch).attention.key_length"] = .uint32(7) }
        try Self.expectRefused(name, containing: "block_count") { m, _ in m["\(arch).block_count"] = .uint32(1 << 30) }
        try Self.expectRefused(name, containing: "layer_norm_rms_epsilon") { m, _ in m["\(arch).attention.layer_norm_rms_epsilon"] = nil }
        try Self.expectRefused(name, containing: "rope.dimension_count") { m, _ in m["\(arch).rope.dimension_count"] = .uint32(2) }
        // A head size the tensors do not have: the first tensor sized by it is named.
        try Self.expectRefused(name, containing: "attn_q.weight") { m, t in
            t.removeAll { $0.name == "rope_freqs.weight" }  // sized by the head too
            let hidden = m["\(arch).embedding_length"]!.int!, heads = m["\(arch).attention.head_count"]!.int!
            let size = m["\(arch).attention.key_length"]?.int ?? hidden / heads
            m["\(arch).attention.key_length"] = .uint32(UInt32(2 * size))
            m["\(arch).attention.value_length"] = .uint32(UInt32(2 * size))
            m["\(arch).rope.dimension_count"] = nil
        }
        try Self.expectRefused(name, containing: "attn_v.weight") { _, t in t.removeAll { $0.name == "blk.0.attn_v.weight" } }
    }

    @Test func familyTensorsAndKeysAreRequired() throws {
        try Self.expectRefused("qwen3-Q8_0", containing: "attention.key_length") { m, _ in m["qwen3.attention.key_length"] = nil }
        try Self.expectRefused("qwen3-Q8_0", containing: "attn_q_norm.weight") { _, t in t.removeAll { $0.name == "blk.1.attn_q_norm.weight" } }
        try Self.expectRefused("gemma3-Q8_0", containing: "post_ffw_norm.weight") { _, t in t.removeAll { $0.name == "blk.0.post_ffw_norm.weight" } }
        try Self.expectRefused("gemma3-Q8_0", containing: "sliding_window_pattern") { m, _ in
            m["gemma3.attention.sliding_window_pattern"] = .array([.bool(true)])
        }
        try Self.expectRefused("llama31-Q8_0", containing: "rope_freqs.weight") { _, t in
            if let i = t.firstIndex(where: { $0.name == "rope_freqs.weight" }) { t[i].dimensions = [t[i].dimensions[0] / 2] }
        }
    }

    /// What the loader read from each family's file: the description's choices are the family's.
    @Test func descriptionsAreTheFamilies() throws {
        let gemma = try ModelRegistry.load(try Self.original("gemma3-Q8_0")).config
        #expect(gemma.activation == .geluTanh && gemma.qkNorm && gemma.sandwichNorms)
        #expect(gemma.embeddingScale == Float(gemma.hidden).squareRoot())
        #expect(gemma.slidingWindow > 0 && gemma.slidingLayers.count == gemma.layers)
        #expect(gemma.slidingLayers.enumerated().allSatisfy { $1 == ($0 % 6 < 5) })
        #expect(gemma.localRope.theta == 10000 && gemma.rope.theta == 1_000_000)
        #expect(gemma.headDim != gemma.hidden / gemma.heads)
        let qwen3 = try ModelRegistry.load(try Self.original("qwen3-Q8_0")).config
        #expect(qwen3.qkNorm && !qwen3.sandwichNorms && qwen3.activation == .silu && qwen3.headDim != qwen3.hidden / qwen3.heads)
        let qwen2 = try ModelRegistry.load(try Self.original("qwen2-Q8_0"))
        #expect(qwen2.weights.layers.allSatisfy { $0.bias(.q) != nil && $0.bias(.k) != nil && $0.bias(.v) != nil })
        let llama = try ModelRegistry.load(try Self.original("llama31-Q8_0")).config
        #expect(llama.rope.frequencyFactors?.count == llama.headDim / 2 && llama.slidingWindow == 0)
    }
}
