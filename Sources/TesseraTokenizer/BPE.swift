/// Byte-pair merging of one piece, as llama.cpp's `llm_tokenizer_bpe_session`: the candidate pair of lowest rank
/// merges first, the leftmost among equal ranks, and a merge applies to the pair's text whether or not that text is
/// a token (the caller falls back per byte for a final symbol that is not). Symbols are interned texts (`Int32`):
/// vocabulary ids for token texts, ids past the vocabulary for other texts that merges name.
struct BPE: Sendable {
    /// (left symbol, right symbol) -> rank << 32 | merged symbol; the first rank of a pair wins, as llama.cpp's map.
    let merges: PairTable

    static func key(_ a: Int32, _ b: Int32) -> UInt64 { UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b)) }

    /// Reused buffers: one piece's symbols and the queue of candidate merges.
    struct Work {
        var ids: [Int32] = []
        var lengths: [Int32] = []
        var prev: [Int32] = []
        var next: [Int32] = []
        var heap = MergeHeap()
    }

    /// Merges the symbols in `work.ids` (one per initial character, `lengths` their byte lengths); afterwards the
    /// live symbols are those with a non-zero length, chained by `next` from index 0.
    func apply(_ w: inout Work) {
        let n = w.ids.count
        guard n >= 2 else { return }
        w.prev.removeAll(keepingCapacity: true)
        w.next.removeAll(keepingCapacity: true)
        for i in 0..<n {
            w.prev.append(Int32(i - 1))
            w.next.append(i + 1 < n ? Int32(i + 1) : -1)
        }
        w.heap.removeAll()
        for i in 0..<(n - 1) { push(&w, Int32(i), Int32(i + 1)) }
        while let e = w.heap.pop() {
            let left = Int(e.left)
            let right = Int(e.right)
            // Skip a pair made stale by an earlier merge: either side gone or changed.
            guard w.lengths[left] > 0, w.lengths[right] > 0, w.ids[left] == e.leftID, w.ids[right] == e.rightID else { continue }
            w.ids[left] = e.result
            w.lengths[left] += w.lengths[right]
            w.lengths[right] = 0
            let after = w.next[right]
            w.next[left] = after
            if after >= 0 { w.prev[Int(after)] = Int32(left) }
            push(&w, w.prev[left], Int32(left))
            push(&w, Int32(left), after)
        }
    }

    @inline(__always)
    private func push(_ w: inout Work, _ left: Int32, _ right: Int32) {
        guard left >= 0, right >= 0 else { return }
        let a = w.ids[Int(left)], b = w.ids[Int(right)]
        guard a >= 0, b >= 0, let m = merges[Self.key(a, b)] else { return }
        w.heap.push(.init(order: UInt64(m >> 32) << 32 | UInt64(UInt32(left)), right: right, leftID: a, rightID: b,
                          result: Int32(truncatingIfNeeded: m & 0xFFFF_FFFF)))
    }
}

/// A binary min-heap of candidate merges ordered by (rank, left index): llama.cpp's priority queue order.
struct MergeHeap {
    struct Entry {
        /// rank << 32 | left index
        let order: UInt64
        let right: Int32
        let leftID: Int32
        let rightID: Int32
        let result: Int32
        var left: Int32 { Int32(truncatingIfNeeded: order & 0xFFFF_FFFF) }
    }

    private var items: [Entry] = []

    mutating func removeAll() { items.removeAll(keepingCapacity: true) }

    mutating func push(_ e: Entry) {
        items.append(e)
        var c = items.count - 1
        while c > 0 {
            let p = (c - 1) / 2
            guard items[c].order < items[p].order else { break }
            items.swapAt(c, p)
            c = p
        }
    }

    mutating func pop() -> Entry? {
        guard let first = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var p = 0
            let n = items.count
            while true {
                let l = 2 * p + 1, r = l + 1
                var m = p
                if l < n && items[l].order < items[m].order { m = l }
                if r < n && items[r].order < items[m].order { m = r }
                if m == p { break }
                items.swapAt(p, m)
                p = m
            }
        }
        return first
    }
}

/// An open-addressing map from UInt64 keys to UInt64 values (faster than Dictionary's seeded hashing on the hot path).
struct PairTable: Sendable {
    private var keys: [UInt64]
    private var values: [UInt64]
    private let mask: Int
    private static let empty = UInt64.max

    init(capacity: Int) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        keys = Array(repeating: Self.empty, count: size)
        values = Array(repeating: 0, count: size)
        mask = size - 1
    }

    @inline(__always) private func slot(_ key: UInt64) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 32) & mask
    }

    /// Inserts unless the key is present (the first value wins).
    mutating func insertIfAbsent(_ key: UInt64, _ value: UInt64) {
        var i = slot(key)
        while keys[i] != Self.empty {
            if keys[i] == key { return }
            i = (i + 1) & mask
        }
        keys[i] = key
        values[i] = value
    }

    subscript(key: UInt64) -> UInt64? {
        var i = slot(key)
        while true {
            let k = keys[i]
            if k == key { return values[i] }
            if k == Self.empty { return nil }
            i = (i + 1) & mask
        }
    }
}

/// Byte strings -> ids, growing as texts are added (building the merge table without hashing `[UInt8]` keys through
/// Dictionary, which dominates loading otherwise).
struct ByteInterner {
    private var bytes: [UInt8] = []
    private var ends: [Int] = []  // entry k is bytes[(k == 0 ? 0 : ends[k - 1])..<ends[k]]
    private var values: [Int32] = []
    private var slots: [Int32]  // entry index, or -1
    private var mask: Int

    init(capacity: Int) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = Array(repeating: -1, count: size)
        mask = size - 1
        bytes.reserveCapacity(capacity * 8)
    }

    var count: Int { ends.count }

    @inline(__always) private static func hash(_ key: UnsafeBufferPointer<UInt8>) -> Int {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for i in 0..<key.count { h = (h ^ UInt64(key[i])) &* 0x100_0000_01B3 }
        return Int(truncatingIfNeeded: h ^ (h >> 29))
    }

    private func find(_ key: UnsafeBufferPointer<UInt8>) -> (slot: Int, found: Bool) {
        bytes.withUnsafeBufferPointer { all in
            ends.withUnsafeBufferPointer { ends in
                slots.withUnsafeBufferPointer { slots in
                    var i = Self.hash(key) & mask
                    while slots[i] >= 0 {
                        let k = Int(slots[i])
                        let start = k == 0 ? 0 : ends[k - 1]
                        if ends[k] - start == key.count {
                            var same = true
                            for j in 0..<key.count where all[start + j] != key[j] { same = false; break }
                            if same { return (i, true) }
                        }
                        i = (i + 1) & mask
                    }
                    return (i, false)
                }
            }
        }
    }

    func value(_ key: UnsafeBufferPointer<UInt8>) -> Int32? {
        let (slot, found) = find(key)
        return found ? values[Int(slots[slot])] : nil
    }

    /// Sets the value of `key` (replacing an earlier one).
    mutating func set(_ key: UnsafeBufferPointer<UInt8>, _ value: Int32) {
        let (slot, found) = find(key)
        if found { values[Int(slots[slot])] = value; return }
        slots[slot] = Int32(ends.count)
        bytes.append(contentsOf: key)
        ends.append(bytes.count)
        values.append(value)
        if ends.count * 2 > slots.count { grow() }
    }

    /// Every (key, value).
    func forEach(_ body: (UnsafeBufferPointer<UInt8>, Int32) -> Void) {
        bytes.withUnsafeBufferPointer { all in
            for k in 0..<ends.count {
                let start = k == 0 ? 0 : ends[k - 1]
                body(UnsafeBufferPointer(rebasing: all[start..<ends[k]]), values[k])
            }
        }
    }

    private mutating func grow() {
        var fresh = [Int32](repeating: -1, count: slots.count * 2)
        let m = fresh.count - 1
        bytes.withUnsafeBufferPointer { all in
            for k in 0..<ends.count {
                let start = k == 0 ? 0 : ends[k - 1]
                var i = Self.hash(UnsafeBufferPointer(rebasing: all[start..<ends[k]])) & m
                while fresh[i] >= 0 { i = (i + 1) & m }
                fresh[i] = Int32(k)
            }
        }
        slots = fresh
        mask = m
    }
}
