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

    /// Forgets the tokens from `position` on (used to rewind after a stop string, or to reuse the cache).
    public func truncate(to position: Int) {
        count = min(count, max(0, position))
    }
}
