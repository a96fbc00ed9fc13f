import Synchronization
import TesseraKernels

/// The paged KV cache's memory (DESIGN 3.5): fixed-size blocks of `blockTokens` positions for every layer, taken and
/// given back by sequences' caches. The pool is sized once from a byte budget and never grows; its address space is
/// reserved up front and pages become resident as blocks are first used (free blocks are reused lowest first, so the
/// resident part stays that of the busiest moment).
///
/// Layout: keys of layer l are rows [l][block * blockTokens + i][width] of one array of `type` values; values the
/// same in another.
public final class KVBlockPool: @unchecked Sendable {
    public let layers: Int
    public let width: Int
    public let blockTokens: Int
    public let totalBlocks: Int
    public let type: KVCacheType
    private let keys: UnsafeMutableRawPointer
    private let values: UnsafeMutableRawPointer
    /// Free block numbers, highest first, so `popLast` hands out the lowest.
    private let free: Mutex<[Int32]>

    /// A pool of `blocks` blocks for keys and values of `width` values per layer and position.
    public init(layers: Int, width: Int, blockTokens: Int, blocks: Int, type: KVCacheType = .standard) {
        precondition(layers > 0 && width > 0 && blockTokens > 0 && blocks >= 0 && blocks <= Int(Int32.max))
        self.layers = layers
        self.width = width
        self.blockTokens = blockTokens
        self.type = type
        totalBlocks = blocks
        let bytes = max(1, layers * blocks * blockTokens * width) * type.bytes
        keys = .allocate(byteCount: bytes, alignment: 64)
        values = .allocate(byteCount: bytes, alignment: 64)
        free = Mutex((0..<Int32(blocks)).reversed())
    }

    /// The largest pool of this model's shape within `bytes`.
    public convenience init(config: ModelConfig, bytes: Int, blockTokens: Int = 16, type: KVCacheType = .standard) {
        let width = config.kvHeads * config.headDim
        let perBlock = Self.bytesPerBlock(layers: config.layers, width: width, blockTokens: blockTokens, type: type)
        self.init(layers: config.layers, width: width, blockTokens: blockTokens, blocks: max(0, bytes / perBlock),
                  type: type)
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    public static func bytesPerBlock(layers: Int, width: Int, blockTokens: Int, type: KVCacheType = .standard) -> Int {
        2 * layers * blockTokens * width * type.bytes
    }

    /// Bytes of keys and values the pool holds when every block is in use.
    public var bytes: Int {
        totalBlocks * Self.bytesPerBlock(layers: layers, width: width, blockTokens: blockTokens, type: type)
    }

    public var freeBlocks: Int { free.withLock { $0.count } }

    /// Share of the blocks in use (the `vllm:kv_cache_usage_perc` metric).
    public var usage: Double { totalBlocks == 0 ? 0 : Double(totalBlocks - freeBlocks) / Double(totalBlocks) }

    /// Blocks needed to hold `positions` positions.
    public func blocks(for positions: Int) -> Int { (positions + blockTokens - 1) / blockTokens }

    /// `n` free blocks, or nil (taking none) when fewer are free.
    func take(_ n: Int) -> [Int32]? {
        free.withLock { f in
            guard f.count >= n else { return nil }
            defer { f.removeLast(n) }
            return Array(f.suffix(n).reversed())
        }
    }

    func give(_ blocks: some Collection<Int32>) {
        guard !blocks.isEmpty else { return }
        free.withLock { f in
            f.append(contentsOf: blocks)
            f.sort(by: >)
        }
    }

    /// Start of layer `layer`'s keys and values; position i of block b is row b * blockTokens + i.
    func layer(_ layer: Int) -> (keys: UnsafeMutableRawPointer, values: UnsafeMutableRawPointer) {
        let offset = layer * totalBlocks * blockTokens * width * type.bytes
        return (keys + offset, values + offset)
    }

    /// Stores `count` floats at row `row` of layer arrays starting at `base`, in the pool's type.
    func store(_ src: UnsafePointer<Float>, count: Int, into base: UnsafeMutableRawPointer, row: Int) {
        let dst = base + row * width * type.bytes
        switch type {
        case .fp32: dst.assumingMemoryBound(to: Float.self).update(from: src, count: count)
        case .f16: Kernels.toFP16(src, dst.assumingMemoryBound(to: UInt16.self), count: count)
        }
    }
}
