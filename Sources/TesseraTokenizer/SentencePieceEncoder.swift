/// llama.cpp's SentencePiece BPE (`llm_tokenizer_spm_session`, tokenizer model `llama`: Llama 2, Mistral, Phi-3,
/// Gemma 1-3, TinyLlama, Baichuan). The text is cut into UTF-8 characters by their lead byte; neighbours whose joined
/// text is a token are queued by that token's score (higher first, then leftmost); merging goes on until no queued
/// pair is current; what is left is a token, or a character no token spells, written as its bytes' `<0xAB>` tokens.
///
/// llama.cpp keeps a map from merged text back to the pair (`rev_merge`) to re-split symbols that are not tokens,
/// but a merge only happens when the joined text is a token, so a symbol that is not a token is always a single
/// unmerged character: the map is never consulted with success and is left out here.
public struct SentencePieceEncoder: Sendable {
    private let table: TokenTable
    /// Per id: the score as an integer with the float's order (−0 as +0), so a merge's priority is one UInt64.
    private let rank: [UInt32]
    /// Per one-byte character: its token, or -1.
    private let singleByte: [Int32]
    /// Per byte: what a byte of a character no token spells becomes (llama.cpp's `byte_to_token`): the `<0xAB>`
    /// token, else a token spelled by that one byte, else the unknown token (where llama.cpp throws), else -1
    /// (nothing is written).
    private let byteFallback: [Int32]
    /// Per byte: whether some token holds that byte right before a `▁` (resp. a newline) that is not its first
    /// character. Where the byte before a `▁` or newline in the text is not such a byte, no token can span that
    /// boundary, so no merge ever crosses it: the text is merged segment by segment there, with the same result as
    /// one queue over the whole fragment (merges in one segment never change the pairs of another, and each
    /// segment's merges keep their order) but with small queues that stay in cache.
    private let gluedBeforeSpace: [Bool]
    private let gluedBeforeNewline: [Bool]

    /// The longest fragment tokenized as one: symbol indices are 32-bit. Longer fragments are cut at a character
    /// boundary first (llama.cpp would need tens of gigabytes for them).
    static let maxFragment = 1 << 30

    package init(vocabulary: Vocabulary, unknownID: Int32?) throws(TokenizerError) {
        let table = vocabulary.table
        var rank = [UInt32](repeating: 0, count: vocabulary.count)
        for (i, s) in vocabulary.scores.enumerated() { rank[i] = Self.rank(of: s) }
        var singleByte = [Int32](repeating: -1, count: 256)
        var byteFallback = [Int32](repeating: -1, count: 256)
        for b in 0..<256 {
            let one = table.id(of: [UInt8(b)])
            singleByte[b] = one ?? -1
            byteFallback[b] = table.id(of: Array(Vocabulary.byteTokenText(UInt8(b)).utf8)) ?? one ?? unknownID ?? -1
        }
        var gluedBeforeSpace = [Bool](repeating: false, count: 256)
        var gluedBeforeNewline = [Bool](repeating: false, count: 256)
        for t in vocabulary.tokens {
            let u = Array(t.utf8)
            guard u.count > 1 else { continue }
            for i in 1..<u.count {
                if u[i] == 0x0A { gluedBeforeNewline[Int(u[i - 1])] = true }
                if u[i] == 0xE2 && i + 2 < u.count && u[i + 1] == 0x96 && u[i + 2] == 0x81 { gluedBeforeSpace[Int(u[i - 1])] = true }
            }
        }
        self.gluedBeforeSpace = gluedBeforeSpace
        self.gluedBeforeNewline = gluedBeforeNewline
        self.table = table
        self.rank = rank
        self.singleByte = singleByte
        self.byteFallback = byteFallback
    }

    /// Orders like `Float`'s `<` for every non-NaN value, with −0 equal to +0 as in C++.
    static func rank(of score: Float) -> UInt32 {
        let s: Float = score == 0 ? 0 : score
        let bits = s.bitPattern
        return bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000
    }

    /// One fragment of plain text as UTF-8 bytes, the space prefix already added by the caller; spaces become `▁`
    /// here (llama.cpp's `llama_escape_whitespace`), then llama.cpp's SPM session appends the ids.
    package func encode(_ text: ArraySlice<UInt8>, into out: inout [Int32]) {
        guard !text.isEmpty else { return }
        var spaces = 0
        for b in text where b == 0x20 { spaces &+= 1 }
        let escapedCount = text.count + 2 * spaces
        if escapedCount <= Self.maxFragment {
            var escaped = [UInt8](repeating: 0, count: escapedCount)
            escaped.withUnsafeMutableBufferPointer { e in
                var j = 0
                for b in text {
                    if b == 0x20 {
                        e[j] = 0xE2; e[j + 1] = 0x96; e[j + 2] = 0x81
                        j += 3
                    } else {
                        e[j] = b
                        j += 1
                    }
                }
            }
            escaped.withUnsafeBufferPointer { mergeAndWrite($0, into: &out) }
        } else {
            // Cut before a lead byte near each limit (a space is a lead byte), so characters stay whole.
            var start = text.startIndex
            while start < text.endIndex {
                var end = min(start + Self.maxFragment / 3, text.endIndex)
                while end < text.endIndex && end > start + 1 && text[end] & 0xC0 == 0x80 { end -= 1 }
                encode(text[start..<end], into: &out)
                start = end
            }
        }
    }

    private struct Symbol {
        /// Byte offset of the symbol's text in the escaped fragment, and its length (0 once merged into its left).
        var start: Int32
        var n: Int32
        var prev: Int32
        var next: Int32
        /// The token this symbol's text is, or -1 (a character no token spells).
        var id: Int32
    }

    private func mergeAndWrite(_ text: UnsafeBufferPointer<UInt8>, into out: inout [Int32]) {
        guard let base = text.baseAddress, !text.isEmpty else { return }
        let n = text.count
        var scratch = Scratch(capacity: min(n, 4096))
        defer { scratch.release() }

        table.withView { view in
            rank.withUnsafeBufferPointer { rank in
                singleByte.withUnsafeBufferPointer { singleByte in
                    gluedBeforeSpace.withUnsafeBufferPointer { gluedBeforeSpace in
                        gluedBeforeNewline.withUnsafeBufferPointer { gluedBeforeNewline in
                            // Characters by lead byte (llama.cpp's `unicode_len_utf8`), the last one cut at the end.
                            var count = 0
                            var offset = 0
                            while offset < n {
                                let lead = base[offset]
                                let len = min(Self.utf8Length(lead), n - offset)
                                if count > 0 {
                                    let before = Int(base[offset - 1])
                                    let cut = len == 3 ? lead == 0xE2 && base[offset + 1] == 0x96 && base[offset + 2] == 0x81 && !gluedBeforeSpace[before]
                                        : lead == 0x0A && !gluedBeforeNewline[before]
                                    if cut {
                                        mergeSegment(count, &scratch, base, view, rank, into: &out)
                                        count = 0
                                    }
                                }
                                let id = len == 1 ? singleByte[Int(lead)] : view.lookup(base + offset, len)
                                scratch.appendSymbol(Symbol(start: Int32(offset), n: Int32(len), prev: Int32(count - 1), next: Int32(count + 1), id: id), at: count)
                                offset += len
                                count += 1
                            }
                            mergeSegment(count, &scratch, base, view, rank, into: &out)
                        }
                    }
                }
            }
        }
    }

    /// Merges one segment's symbols (`scratch.symbols[0..<count]`) and appends its ids.
    @inline(__always)
    private func mergeSegment(_ count: Int, _ scratch: inout Scratch, _ base: UnsafePointer<UInt8>, _ view: TokenTable.View,
                              _ rank: UnsafeBufferPointer<UInt32>, into out: inout [Int32]) {
        guard count > 0 else { return }
        let symbols = scratch.symbols
        symbols[count - 1].next = -1

        @inline(__always)
        func tryAdd(_ left: Int32, _ right: Int32) {
            if left < 0 || right < 0 { return }
            let l = symbols[Int(left)]
            let size = l.n &+ symbols[Int(right)].n
            let id = view.lookup(base + Int(l.start), Int(size))
            if id < 0 { return }
            scratch.heap.push(Bigram(key: UInt64(rank[Int(id)]) << 32 | UInt64(~UInt32(bitPattern: left)), size: size, id: id))
        }

        if count > 1 {
            for i in 1..<count { tryAdd(Int32(i - 1), Int32(i)) }
            while let top = scratch.heap.pop() {
                let left = Int32(bitPattern: ~UInt32(truncatingIfNeeded: top.key))
                let l = symbols[Int(left)]
                // Stale when either side has been merged since: the left one is gone, or the pair's length
                // changed (a symbol only ever grows by taking in its right neighbour).
                if l.n == 0 || l.next < 0 { continue }
                let right = l.next
                let r = symbols[Int(right)]
                if l.n &+ r.n != top.size { continue }
                symbols[Int(left)].n = top.size
                symbols[Int(left)].id = top.id
                symbols[Int(left)].next = r.next
                symbols[Int(right)].n = 0
                if r.next >= 0 { symbols[Int(r.next)].prev = left }
                tryAdd(l.prev, left)
                tryAdd(left, r.next)
            }
        }

        var i: Int32 = 0
        while i >= 0 {
            let s = symbols[Int(i)]
            if s.id >= 0 {
                out.append(s.id)
            } else {
                for j in Int(s.start)..<Int(s.start + s.n) {
                    let id = byteFallback[Int(base[j])]
                    if id >= 0 { out.append(id) }
                }
            }
            i = s.next
        }
    }

    /// Symbols of the current segment and the merge queue, reused from segment to segment.
    private struct Scratch {
        private(set) var symbols: UnsafeMutablePointer<Symbol>
        private var capacity: Int
        var heap: MergeQueue

        init(capacity: Int) {
            self.capacity = max(capacity, 16)
            symbols = .allocate(capacity: self.capacity)
            heap = MergeQueue(capacity: self.capacity)
        }

        func release() {
            symbols.deallocate()
            heap.release()
        }

        @inline(__always)
        mutating func appendSymbol(_ s: Symbol, at i: Int) {
            if i == capacity {
                let grown = UnsafeMutablePointer<Symbol>.allocate(capacity: capacity * 2)
                grown.moveInitialize(from: symbols, count: i)
                symbols.deallocate()
                symbols = grown
                capacity *= 2
            }
            symbols[i] = s
        }
    }

    /// llama.cpp's `unicode_len_utf8`: 1 for ASCII and stray continuation bytes, else what the lead byte announces.
    @inline(__always)
    private static func utf8Length(_ lead: UInt8) -> Int {
        switch lead >> 4 {
        case 0xC, 0xD: return 2
        case 0xE: return 3
        case 0xF: return 4
        default: return 1
        }
    }
}
