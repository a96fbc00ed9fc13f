import Foundation
import TesseraKernels

/// Teacher-forced log-probabilities: how likely the model finds each token given the ones before it.
public enum Scoring {
    /// logprobs[i] = log p(tokens[i+1] | tokens[0...i]); one fewer than `tokens`.
    /// Long texts go through in chunks of `chunk` tokens so the logits buffer stays bounded.
    public static func logprobs(
        model: any LanguageModel, tokens: [Int32], adapters: [AppliedAdapter] = [], cache type: KVCacheType = .standard,
        chunk: Int = 256
    ) throws(ModelError) -> [Double] {
        guard tokens.count >= 2 else { return [] }
        let positions = tokens.count + adapters.reduce(0) { $0 + $1.weights.positions }
        let cache = model.makeCache(capacity: positions, type: type)
        guard cache.capacity >= positions else {
            throw ModelError("text of \(tokens.count) tokens exceeds the model's context of \(model.config.contextLength)")
        }
        let vocab = model.config.vocab
        var out: [Double] = []
        out.reserveCapacity(tokens.count - 1)
        var start = 0
        while start < tokens.count - 1 {
            let end = min(tokens.count - 1, start + chunk)
            let piece = Array(tokens[start..<end])
            let logits = try model.forward(tokens: piece, cache: cache, outputs: Array(0..<piece.count), adapters: adapters)
            for i in 0..<piece.count {
                let row = logits[(i * vocab)..<((i + 1) * vocab)]
                out.append(logSoftmax(row, at: Int(tokens[start + i + 1])))
            }
            start = end
        }
        return out
    }

    /// log softmax(row)[index], accumulated in double precision.
    public static func logSoftmax(_ row: ArraySlice<Float>, at index: Int) -> Double {
        let m = Double(row.max() ?? 0)
        var sum = 0.0
        for x in row { sum += exp(Double(x) - m) }
        return Double(row[row.startIndex + index]) - m - log(sum)
    }
}
