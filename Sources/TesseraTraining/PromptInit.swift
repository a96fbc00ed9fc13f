import Foundation
import TesseraEngine
import TesseraModel
import TesseraTokenizer

/// PEFT's ways to start a prompt-tuning adapter of n virtual tokens (`PromptTuningInit`).
public enum PromptInit: Sendable, Equatable {
    /// N(0, 1), as PEFT's RANDOM (torch's embedding initialization).
    case random
    /// The embeddings of n token ids drawn from the vocabulary (SAMPLE_VOCAB): starts where real inputs live.
    case sampledVocabulary
    /// The embeddings of the text's tokens, repeated to fill n and cut there (TEXT).
    case text(String)

    public func embeddings(_ n: Int, base: DecoderWeights, tokenizer: Tokenizer, seed: UInt64) -> [Float] {
        let h = base.config.hidden
        var rng = RandomSource(seed: seed)
        var out = [Float](repeating: 0, count: n * h)
        /// Through the model's embedding layer, as PEFT does, so Gemma's scaling applies.
        func embed(_ ids: [Int32]) {
            out.withUnsafeMutableBufferPointer { p in
                for (i, id) in ids.enumerated() { base.embedding.dequantizeRow(Int(id), into: p.baseAddress! + i * h) }
            }
            let scale = base.config.embeddingScale
            if scale != 1 { for i in out.indices { out[i] *= scale } }
        }
        switch self {
        case .random:
            out = rng.normals(n * h)
        case .sampledVocabulary:
            embed((0..<n).map { _ in Int32(rng.next() % UInt64(base.config.vocab)) })
        case .text(let text):
            let ids = tokenizer.encode(text, parseSpecial: false)
            embed(ids.isEmpty ? [] : (0..<n).map { ids[$0 % ids.count] })
        }
        return out
    }
}

extension RandomSource {
    /// `count` draws of N(0, 1) (Box-Muller), as torch initializes an `Embedding`.
    mutating func normals(_ count: Int) -> [Float] {
        (0..<count).map { _ in
            let u = max(nextUnit(), 1e-300), v = nextUnit()
            return Float((-2 * log(u)).squareRoot() * cos(2 * Double.pi * v))
        }
    }
}
