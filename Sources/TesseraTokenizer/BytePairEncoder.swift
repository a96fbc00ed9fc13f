/// Byte-level BPE as llama.cpp's `llm_tokenizer_bpe_session::tokenize`: the pre-tokenizer's pieces, each spelled in
/// GPT-2's byte alphabet (or raw UTF-8 for Gemma 4), merged by rank; a piece that is a token is taken whole where
/// the pre-tokenizer ignores merges; a final symbol that is not a token falls back to its bytes' tokens.
public struct BytePairEncoder: Sendable {
    let preTokenizer: PreTokenizer
    private let bpe: BPE
    private let vocabularySize: Int32
    /// Byte-level: the symbol each byte starts as (-1 when neither a token nor named by a merge).
    private let byteSymbols: [Int32]
    /// Raw UTF-8: the symbol of each single-character text that is a token or named by a merge.
    private let characterSymbols: [UInt32: Int32]
    /// Whole pieces that are tokens, by their raw bytes (for `ignore_merges` and Gemma 4's newline runs).
    private let wholePieces: TokenTable
    /// Per byte, the token of the fallback: byte-level, the one-character token of a printable ASCII byte (llama.cpp
    /// looks up each byte of the byte-level spelling alone, which only those can match); raw, `<0xAB>`.
    private let fallback: [Int32]

    init(vocabulary: Vocabulary, merges: [String], preTokenizer: PreTokenizer) throws(TokenizerError) {
        let byteLevel = preTokenizer.byteEncode
        let n = vocabulary.count
        // Texts are compared by their bytes, as llama.cpp's maps do (`Vocabulary.table`).
        let exact = vocabulary.table
        // Texts named by merges that are not tokens get ids past the vocabulary.
        var extra = ByteInterner(capacity: 1024)
        func intern(_ s: UnsafeBufferPointer<UInt8>) -> Int32 {
            if let id = exact.id(of: s) ?? extra.value(s) { return id }
            let id = Int32(n + extra.count)
            extra.set(s, id)
            return id
        }
        var table = PairTable(capacity: merges.count)
        var joined = [UInt8](repeating: 0, count: 256)
        for (rank, m) in merges.enumerated() {
            guard extra.count < Int(Int32.max) - n - 2 else { break }
            var m = m
            m.withUTF8 { u in
                // llama.cpp splits at the first space after the first byte; a merge without one never applies.
                var space = 1
                while space < u.count && u[space] != 0x20 { space += 1 }
                guard space + 1 < u.count else { return }
                if joined.count < u.count { joined = [UInt8](repeating: 0, count: u.count) }
                joined.withUnsafeMutableBufferPointer { j in
                    var k = 0
                    for i in 0..<u.count where i != space { j[k] = u[i]; k += 1 }
                }
                let a = intern(UnsafeBufferPointer(rebasing: u[0..<space]))
                let b = intern(UnsafeBufferPointer(rebasing: u[(space + 1)..<u.count]))
                let c = joined.withUnsafeBufferPointer { intern(UnsafeBufferPointer(rebasing: $0[0..<(u.count - 1)])) }
                table.insertIfAbsent(BPE.key(a, b), UInt64(rank) << 32 | UInt64(UInt32(bitPattern: c)))
            }
        }

        var byteSymbols = [Int32](repeating: -1, count: 256)
        var characterSymbols: [UInt32: Int32] = [:]
        var fallback = [Int32](repeating: -1, count: 256)
        var wholePieces = vocabulary.table  // raw UTF-8: a piece is spelled as the token's text
        if byteLevel {
            for b in 0..<256 {
                var spelled: [UInt8] = []
                LlamaUTF8.append(ByteLevel.byteToScalar[b].value, to: &spelled)
                byteSymbols[b] = spelled.withUnsafeBufferPointer { exact.id(of: $0) ?? extra.value($0) } ?? -1
                if (0x21...0x7E).contains(b) { fallback[b] = exact[[UInt8(b)][...]] ?? -1 }
            }
            if preTokenizer.ignoreMerges { wholePieces = TokenTable(texts: vocabulary.tokens.map(ByteLevel.decode)) }
        } else {
            // Single characters, tokens or not (a merge may name a character that is not a token); a token wins
            // over a merge's text, a later token over an earlier one.
            func single(_ text: UnsafeBufferPointer<UInt8>, _ id: Int32) {
                guard (1...4).contains(text.count) else { return }
                var cpts: [UInt32] = []
                LlamaUTF8.codepoints(text, into: &cpts)
                if cpts.count == 1, cpts[0] != 0xFFFD || text.elementsEqual([0xEF, 0xBF, 0xBD]) {
                    characterSymbols[cpts[0]] = id
                }
            }
            extra.forEach(single)
            for (i, t) in vocabulary.tokens.enumerated() where t.utf8.count <= 4 {
                var t = t
                t.withUTF8 { single($0, Int32(i)) }
            }
            for b in 0..<256 { fallback[b] = vocabulary.byteTokens[b] ?? -1 }
        }
        self.preTokenizer = preTokenizer
        self.bpe = BPE(merges: table)
        self.vocabularySize = Int32(n)
        self.byteSymbols = byteSymbols
        self.characterSymbols = characterSymbols
        self.wholePieces = wholePieces
        self.fallback = fallback
    }

    /// One fragment of plain text (no special tokens inside): appends its ids as llama.cpp does.
    func encode(_ text: ArraySlice<UInt8>, into out: inout [Int32]) {
        guard !text.isEmpty else { return }
        var cpts: [UInt32] = []
        if preTokenizer.escapeWhitespace {
            var escaped: [UInt8] = []
            escaped.reserveCapacity(text.count + text.count / 4)
            for b in text {
                if b == 0x20 { escaped.append(contentsOf: [0xE2, 0x96, 0x81]) } else { escaped.append(b) }
            }
            escaped.withUnsafeBufferPointer { LlamaUTF8.codepoints($0, into: &cpts) }
        } else {
            text.withUnsafeBufferPointer { LlamaUTF8.codepoints($0, into: &cpts) }
        }
        var scratch = PreTokenizer.Scratch(preTokenizer)
        let pieces = cpts.withUnsafeBufferPointer { preTokenizer.split($0, scratch: &scratch) }

        var work = BPE.Work()
        var piece: [UInt8] = []
        var start = 0
        let gemmaNewlines = preTokenizer.type == "GEMMA4"
        for length in pieces {
            piece.removeAll(keepingCapacity: true)
            var onlyNewlines = true
            for c in cpts[start..<start + length] {
                LlamaUTF8.append(c, to: &piece)
                if c != 0x0A { onlyNewlines = false }
            }
            let characters = cpts[start..<start + length]
            start += length
            if preTokenizer.ignoreMerges || (gemmaNewlines && onlyNewlines), let id = wholePieces[piece[...]] {
                out.append(id)
                continue
            }
            encodePiece(piece, characters, &work, into: &out)
        }
    }

    private func encodePiece(_ piece: [UInt8], _ characters: ArraySlice<UInt32>, _ w: inout BPE.Work, into out: inout [Int32]) {
        w.ids.removeAll(keepingCapacity: true)
        w.lengths.removeAll(keepingCapacity: true)
        if preTokenizer.byteEncode {
            for b in piece {
                w.ids.append(byteSymbols[Int(b)])
                w.lengths.append(1)
            }
        } else {
            // One symbol per character (the length its first byte announces, as llama.cpp's `unicode_len_utf8`,
            // is the length it was written with).
            for c in characters {
                let c = c < 0x110000 ? c : 0xFFFD
                w.ids.append(characterSymbols[c] ?? -1)
                w.lengths.append(c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4)
            }
        }
        bpe.apply(&w)
        var offset = 0
        for s in 0..<w.ids.count {
            let length = Int(w.lengths[s])
            guard length > 0 else { continue }
            let id = w.ids[s]
            if id >= 0 && id < vocabularySize {
                out.append(id)
            } else {
                for b in piece[offset..<offset + length] where fallback[Int(b)] >= 0 { out.append(fallback[Int(b)]) }
            }
            offset += length
        }
    }
}
