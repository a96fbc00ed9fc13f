/// One sequence's keys and values: a block table into a `KVBlockPool` (DESIGN 3.5). Blocks are taken as positions
/// are added and go back to the pool when the cache is truncated below them or released.
public final class KVCache: @unchecked Sendable {
    public let pool: KVBlockPool
    /// Most positions this sequence may hold.
    public let capacity: Int
    /// Positions stored so far; the next token's position.
    public internal(set) var count = 0
    /// Blocks held, in position order; a stable buffer so kernels can read it during a pass.
    private let table: UnsafeMutablePointer<Int32>
    public private(set) var blockCount = 0

    public init(pool: KVBlockPool, capacity: Int) {
        self.pool = pool
        self.capacity = capacity
        table = .allocate(capacity: max(1, pool.blocks(for: capacity)))
    }

    deinit {
        pool.give(UnsafeBufferPointer(start: table, count: blockCount))
        table.deallocate()
    }

    public var width: Int { pool.width }
    public var layers: Int { pool.layers }

    /// Makes room for `positions` positions in all, taking blocks from the pool.
    func reserve(_ positions: Int) throws(ModelError) {
        guard positions <= capacity else {
            throw ModelError("sequence of \(positions) positions (adapter entries included) exceeds the cache capacity of \(capacity)")
        }
        let needed = pool.blocks(for: positions) - blockCount
        guard needed > 0 else { return }
        guard let blocks = pool.take(needed) else {
            throw ModelError("the KV cache is full: \(needed) more blocks needed, \(pool.freeBlocks) of \(pool.totalBlocks) free")
        }
        for b in blocks {
            table[blockCount] = b
            blockCount += 1
        }
    }

    /// Row of position `p` in the pool's per-layer arrays.
    private func row(_ p: Int) -> Int { Int(table[p / pool.blockTokens]) * pool.blockTokens + p % pool.blockTokens }

    /// Stores keys and values of `rows` new tokens (rows row..<row+rows of k and v) after the `count` already held;
    /// `reserve` has made room.
    func append(layer: Int, keys k: [Float], values v: [Float], row: Int, rows: Int) {
        let (keys, values) = pool.layer(layer)
        let w = width
        k.withUnsafeBufferPointer { kp in
            v.withUnsafeBufferPointer { vp in
                for i in 0..<rows {
                    let dst = self.row(count + i), src = (row + i) * w
                    pool.store(kp.baseAddress! + src, count: w, into: keys, row: dst)
                    pool.store(vp.baseAddress! + src, count: w, into: values, row: dst)
                }
            }
        }
    }

    /// Puts prefix-tuning entries at positions 0..<n of an empty cache (so in its first blocks): `prefix` is
    /// [n, layers * 2 * width], row r holding layer l's key at slice 2l and value at slice 2l+1 (PEFT's layout; keys
    /// are not rotated). `reserve` has made room.
    func fillPrefix(_ prefix: [Float], count n: Int) {
        precondition(count == 0 && n <= blockCount * pool.blockTokens && prefix.count == n * layers * 2 * width)
        prefix.withUnsafeBufferPointer { p in
            for l in 0..<layers {
                let (keys, values) = pool.layer(l)
                for r in 0..<n {
                    let src = p.baseAddress! + (r * layers * 2 + 2 * l) * width
                    pool.store(src, count: width, into: keys, row: self.row(r))
                    pool.store(src + width, count: width, into: values, row: self.row(r))
                }
            }
        }
        count = n
    }

    /// A layer's pool arrays and this sequence's block table, for attention; valid during the current pass.
    func layer(_ layer: Int) -> (keys: UnsafeRawPointer, values: UnsafeRawPointer, blocks: UnsafePointer<Int32>) {
        let (k, v) = pool.layer(layer)
        return (UnsafeRawPointer(k), UnsafeRawPointer(v), UnsafePointer(table))
    }

    /// Forgets the positions from `position` on (to rewind, or to reuse the cache) and returns whole blocks no longer
    /// needed to the pool.
    public func truncate(to position: Int) {
        count = min(count, max(0, position))
        let keep = pool.blocks(for: count)
        pool.give(UnsafeBufferPointer(start: table + keep, count: blockCount - keep))
        blockCount = keep
    }
}
