extension SentencePieceEncoder {
    /// A queued pair: `key` is the token's rank above the complement of the left symbol's index, so the largest key
    /// is llama.cpp's queue top (highest score, then leftmost). `size` tells a current pair from a stale one.
    struct Bigram {
        var key: UInt64
        var size: Int32
        var id: Int32
    }

    /// A binary max-heap of bigrams in manually managed storage (trivial elements, grown by doubling).
    struct MergeQueue {
        private var storage: UnsafeMutablePointer<Bigram>
        private var capacity: Int
        private var count = 0

        init(capacity: Int) {
            self.capacity = max(capacity, 16)
            storage = .allocate(capacity: self.capacity)
        }

        func release() { storage.deallocate() }

        @inline(__always)
        mutating func push(_ b: Bigram) {
            if count == capacity {
                let grown = UnsafeMutablePointer<Bigram>.allocate(capacity: capacity * 2)
                grown.moveInitialize(from: storage, count: count)
                storage.deallocate()
                storage = grown
                capacity *= 2
            }
            var i = count
            count += 1
            while i > 0 {
                let parent = (i - 1) >> 1
                let p = storage[parent]
                if p.key >= b.key { break }
                storage[i] = p
                i = parent
            }
            storage[i] = b
        }

        @inline(__always)
        mutating func pop() -> Bigram? {
            guard count > 0 else { return nil }
            let top = storage[0]
            count -= 1
            if count == 0 { return top }
            let last = storage[count]
            var i = 0
            while true {
                var child = 2 * i + 1
                if child >= count { break }
                if child + 1 < count && storage[child + 1].key > storage[child].key { child += 1 }
                if storage[child].key <= last.key { break }
                storage[i] = storage[child]
                i = child
            }
            storage[i] = last
            return top
        }
    }
}
