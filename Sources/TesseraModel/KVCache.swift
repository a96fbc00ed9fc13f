/// Keys and values of one sequence, for every layer, in fp32, in one preallocated block.
/// Layout: keys [layers, capacity, kvHeads * headDim], values the same.
/// (The paged, shared pool of DESIGN 3.5 replaces this when the engine lands.)
public final class KVCache: @unchecked Sendable {
    public let capacity: Int
    public let layers: Int
    public let width: Int
    /// Tokens stored so far; the next token's position.
    public internal(set) var count = 0
    private let keys: UnsafeMutablePointer<Float>
    private let values: UnsafeMutablePointer<Float>

    public init(layers: Int, width: Int, capacity: Int) {
        self.capacity = capacity
        self.layers = layers
        self.width = width
        keys = .allocate(capacity: layers * capacity * width)
        values = .allocate(capacity: layers * capacity * width)
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    /// Bytes held for keys and values.
    public var bytes: Int { 2 * layers * capacity * width * MemoryLayout<Float>.size }

    /// Stores keys and values of `rows` new tokens (rows row..<row+rows of k and v) after the `count` already held.
    func append(layer: Int, keys k: [Float], values v: [Float], row: Int, rows: Int) {
        let offset = (layer * capacity + count) * width
        k.withUnsafeBufferPointer { (keys + offset).update(from: $0.baseAddress! + row * width, count: rows * width) }
        v.withUnsafeBufferPointer { (values + offset).update(from: $0.baseAddress! + row * width, count: rows * width) }
    }

    /// Puts prefix-tuning entries at positions 0..<n of an empty cache: `prefix` is [n, layers * 2 * width], row r
    /// holding layer l's key at slice 2l and value at slice 2l+1 (PEFT's layout; keys are not rotated).
    func fillPrefix(_ prefix: [Float], count n: Int) {
        precondition(count == 0 && n <= capacity && prefix.count == n * layers * 2 * width)
        prefix.withUnsafeBufferPointer { p in
            for r in 0..<n {
                for l in 0..<layers {
                    let src = p.baseAddress! + (r * layers * 2 + 2 * l) * width
                    (keys + (l * capacity + r) * width).update(from: src, count: width)
                    (values + (l * capacity + r) * width).update(from: src + width, count: width)
                }
            }
        }
        count = n
    }

    /// Keys and values of one layer; valid as long as the cache lives.
    func layer(_ layer: Int) -> (keys: UnsafePointer<Float>, values: UnsafePointer<Float>) {
        (UnsafePointer(keys + layer * capacity * width), UnsafePointer(values + layer * capacity * width))
    }

    /// Forgets the tokens from `position` on (used to rewind after a stop string, or to reuse the cache).
    public func truncate(to position: Int) {
        count = min(count, max(0, position))
    }
}
