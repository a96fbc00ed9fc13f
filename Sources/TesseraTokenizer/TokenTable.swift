/// Token text -> id, keyed by the exact bytes (llama.cpp's `std::map<std::string, llama_token>`), looked up from a
/// range of a byte buffer without building a String. Swift's `[String: Int32]` would not do: String equality is
/// canonical equivalence, and vocabularies hold canonically equal tokens with different bytes and ids (Llama 2 has 6
/// such pairs, Gemma 3 and Gemma 4 434). One table per vocabulary (`Vocabulary.table`); BPE builds a second over
/// its tokens' decoded bytes.
struct TokenTable: Sendable {
    /// Every token's bytes, one after the other; token `i` is `bytes[offsets[i] ..< offsets[i + 1]]`.
    private let bytes: [UInt8]
    private let offsets: [Int]
    /// Open addressing, linear probing: `(hash >> 32) << 32 | (id + 1)`, 0 for an empty slot.
    private let slots: [UInt64]
    private let mask: Int
    /// The longest token in bytes: longer ranges are not looked up.
    let maxLength: Int

    init(tokens: [String]) {
        self.init(texts: tokens.map { Array($0.utf8) })
    }

    /// `texts[id]` is the spelling of `id`; nil leaves the id out of the table.
    init(texts: [[UInt8]?]) {
        var bytes: [UInt8] = []
        var offsets: [Int] = [0]
        offsets.reserveCapacity(texts.count + 1)
        var maxLength = 0
        for t in texts {
            if let t { bytes.append(contentsOf: t) }
            maxLength = max(maxLength, bytes.count - offsets[offsets.count - 1])
            offsets.append(bytes.count)
        }
        var capacity = 16
        while capacity < texts.count * 2 { capacity <<= 1 }
        var slots = [UInt64](repeating: 0, count: capacity)
        let mask = capacity - 1
        bytes.withUnsafeBufferPointer { b in
            let base = b.baseAddress ?? UnsafePointer(bitPattern: 1)!
            for id in 0..<texts.count where texts[id] != nil {
                let start = offsets[id], n = offsets[id + 1] - start
                let h = Self.hash(base + start, n)
                var i = Int(truncatingIfNeeded: h) & mask
                while true {
                    let s = slots[i]
                    if s == 0 || (s >> 32 == h >> 32 && Self.equal(base, offsets, Int(truncatingIfNeeded: s & 0xFFFF_FFFF) - 1, base + start, n)) {
                        // A text that occurs twice keeps the later id, as llama.cpp's map does.
                        slots[i] = (h >> 32) << 32 | UInt64(id + 1)
                        break
                    }
                    i = (i + 1) & mask
                }
            }
        }
        self.bytes = bytes
        self.offsets = offsets
        self.slots = slots
        self.mask = mask
        self.maxLength = maxLength
    }

    /// The id of the token spelled by `bytes`, if any.
    func id(of bytes: UnsafeBufferPointer<UInt8>) -> Int32? {
        withView { v in
            let r = v.lookup(bytes.baseAddress ?? UnsafePointer(bitPattern: 1)!, bytes.count)
            return r >= 0 ? r : nil
        }
    }

    subscript(bytes: ArraySlice<UInt8>) -> Int32? {
        bytes.withUnsafeBufferPointer { id(of: $0) }
    }

    /// The id of the token spelled `bytes`, if any.
    func id(of bytes: [UInt8]) -> Int32? {
        bytes.withUnsafeBufferPointer { b in
            withView { v in
                let r = v.lookup(b.baseAddress ?? UnsafePointer(bitPattern: 1)!, b.count)
                return r >= 0 ? r : nil
            }
        }
    }

    /// Runs `body` with a pointer view of the table, for lookups in a hot loop.
    func withView<R>(_ body: (View) -> R) -> R {
        bytes.withUnsafeBufferPointer { b in
            offsets.withUnsafeBufferPointer { o in
                slots.withUnsafeBufferPointer { s in
                    body(View(bytes: b.baseAddress ?? UnsafePointer(bitPattern: 1)!, offsets: o.baseAddress!,
                              slots: s.baseAddress!, mask: mask, maxLength: maxLength))
                }
            }
        }
    }

    struct View {
        let bytes: UnsafePointer<UInt8>
        let offsets: UnsafePointer<Int>
        let slots: UnsafePointer<UInt64>
        let mask: Int
        let maxLength: Int

        /// The id of the token spelled by `n` bytes at `p`, or -1.
        @inline(__always)
        func lookup(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int32 {
            if n > maxLength { return -1 }
            let h = TokenTable.hash(p, n)
            let tag = h >> 32
            var i = Int(truncatingIfNeeded: h) & mask
            while true {
                let s = slots[i]
                if s == 0 { return -1 }
                if s >> 32 == tag {
                    let id = Int(truncatingIfNeeded: s & 0xFFFF_FFFF) - 1
                    let start = offsets[id]
                    if offsets[id + 1] - start == n && TokenTable.memoryEqual(bytes + start, p, n) { return Int32(truncatingIfNeeded: id) }
                }
                i = (i &+ 1) & mask
            }
        }
    }

    private static func equal(_ base: UnsafePointer<UInt8>, _ offsets: [Int], _ id: Int, _ p: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        let start = offsets[id]
        return offsets[id + 1] - start == n && Self.memoryEqual(base + start, p, n)
    }

    /// A fast hash of a short byte string: 8-byte words through a multiply-xorshift mix, the length in the seed.
    @inline(__always)
    static func hash(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt64 {
        let raw = UnsafeRawPointer(p)
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 &* UInt64(truncatingIfNeeded: n &+ 1)
        var i = 0
        while i &+ 8 <= n {
            h = mix(h ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            i &+= 8
        }
        let rest = n &- i
        if rest >= 4 {
            let a = UInt64(raw.loadUnaligned(fromByteOffset: i, as: UInt32.self))
            let b = UInt64(raw.loadUnaligned(fromByteOffset: n &- 4, as: UInt32.self))
            h = mix(h ^ (a << 32 | b))
        } else if rest > 0 {
            let a = UInt64(p[i]) << 16 | UInt64(p[i &+ rest >> 1]) << 8 | UInt64(p[n &- 1])
            h = mix(h ^ a)
        }
        h ^= h >> 31
        h = h &* 0xBF58_476D_1CE4_E5B9
        return h ^ (h >> 29)
    }

    @inline(__always)
    private static func mix(_ x: UInt64) -> UInt64 {
        let y = x &* 0x9FB2_1C65_1E98_DF25
        return y ^ (y >> 28)
    }
}

extension TokenTable {
    @inline(__always)
    static func memoryEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        var i = 0
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        while i &+ 8 <= n {
            if ra.loadUnaligned(fromByteOffset: i, as: UInt64.self) != rb.loadUnaligned(fromByteOffset: i, as: UInt64.self) { return false }
            i &+= 8
        }
        while i < n {
            if a[i] != b[i] { return false }
            i &+= 1
        }
        return true
    }
}
