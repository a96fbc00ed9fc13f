/// Byte-pair merging over token ids. Merges apply lowest rank first; among equal ranks the leftmost goes first
/// (as llama.cpp does), using a heap so long pieces stay O(n log n).
struct BPE: Sendable {
    struct Merge: Sendable {
        let rank: Int32
        let result: Int32
    }

    /// (left id, right id) packed into one key -> merge.
    let merges: [UInt64: Merge]

    static func key(_ a: Int32, _ b: Int32) -> UInt64 { UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b)) }

    /// Merges the initial symbols of one piece into final token ids.
    func apply(_ symbols: [Int32]) -> [Int32] {
        let n = symbols.count
        if n < 2 { return symbols }
        var ids = symbols
        var prev = Array(-1..<(n - 1))
        var next = Array(1...n)  // n = end
        var alive = [Bool](repeating: true, count: n)
        var heap = Heap()
        func push(_ i: Int) {
            let j = next[i]
            guard j < n, let m = merges[Self.key(ids[i], ids[j])] else { return }
            heap.push(.init(rank: m.rank, left: Int32(i), leftID: ids[i], rightID: ids[j]))
        }
        for i in 0..<(n - 1) { push(i) }
        while let top = heap.pop() {
            let i = Int(top.left)
            let j = next[i]
            // Skip entries made stale by an earlier merge of either side.
            guard alive[i], j < n, ids[i] == top.leftID, ids[j] == top.rightID,
                  let m = merges[Self.key(ids[i], ids[j])], m.rank == top.rank else { continue }
            ids[i] = m.result
            alive[j] = false
            next[i] = next[j]
            if next[j] < n { prev[next[j]] = i }
            if prev[i] >= 0 { push(prev[i]) }
            push(i)
        }
        var out: [Int32] = []
        var i = 0
        while i < n { out.append(ids[i]); i = next[i] }
        return out
    }
}

/// A binary min-heap of candidate merges, ordered by rank then position.
private struct Heap {
    struct Entry {
        let rank: Int32
        let left: Int32
        let leftID: Int32
        let rightID: Int32
        func before(_ o: Entry) -> Bool { rank != o.rank ? rank < o.rank : left < o.left }
    }

    private var items: [Entry] = []

    mutating func push(_ e: Entry) {
        items.append(e)
        var c = items.count - 1
        while c > 0 {
            let p = (c - 1) / 2
            guard items[c].before(items[p]) else { break }
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
            while true {
                let l = 2 * p + 1, r = l + 1
                var m = p
                if l < items.count && items[l].before(items[m]) { m = l }
                if r < items.count && items[r].before(items[m]) { m = r }
                if m == p { break }
                items.swapAt(p, m)
                p = m
            }
        }
        return first
    }
}
