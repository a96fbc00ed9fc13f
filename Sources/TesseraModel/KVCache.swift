/// Keys and values of one sequence, for every layer, in fp32.
/// Layout per layer: [capacity, kvHeads * headDim] for keys and the same for values.
/// (The paged, shared pool of DESIGN 3.5 replaces this when the engine lands.)
public final class KVCache: @unchecked Sendable {
    public let capacity: Int
    public let layers: Int
    public let width: Int
    /// Tokens stored so far; the next token's position.
    public internal(set) var count = 0
    var keys: [[Float]]
    var values: [[Float]]

    public init(layers: Int, width: Int, capacity: Int) {
        self.capacity = capacity
        self.layers = layers
        self.width = width
        keys = Array(repeating: [Float](repeating: 0, count: capacity * width), count: layers)
        values = keys
    }

    /// Stores keys and values of `rows` new tokens (rows row..<row+rows of k and v) after the `count` already held.
    func append(layer: Int, keys k: [Float], values v: [Float], row: Int, rows: Int) {
        let n = rows * width
        keys[layer].withUnsafeMutableBufferPointer { dst in
            k.withUnsafeBufferPointer { dst.baseAddress!.advanced(by: count * width).update(from: $0.baseAddress! + row * width, count: n) }
        }
        values[layer].withUnsafeMutableBufferPointer { dst in
            v.withUnsafeBufferPointer { dst.baseAddress!.advanced(by: count * width).update(from: $0.baseAddress! + row * width, count: n) }
        }
    }

    func withLayer<R>(_ layer: Int, _ body: (UnsafePointer<Float>, UnsafePointer<Float>) -> R) -> R {
        keys[layer].withUnsafeBufferPointer { k in values[layer].withUnsafeBufferPointer { v in body(k.baseAddress!, v.baseAddress!) } }
    }

    /// Forgets the tokens from `position` on (used to rewind after a stop string, or to reuse the cache).
    public func truncate(to position: Int) {
        count = min(count, max(0, position))
    }
}
