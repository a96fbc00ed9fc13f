/// One regex of a pre-tokenizer applied as llama.cpp's `unicode_regex_split` applies it when it has no hand-written
/// splitter for it: with `std::regex` on a stand-in text.
///
/// - A regex naming a category (`\p{L}` `\p{N}` `\p{P}` `\p{S}` `\p{M}` `\p{Lu}` …) runs on the *collapsed* text:
///   ASCII stays, every other codepoint becomes one byte: 0x0B if it is whitespace, else 0xD1 (number), 0xD2
///   (letter, whatever its case), 0xD3 (punctuation), 0xD4 (mark), 0xD5 (symbol) or 0xD0 (anything else); each
///   `\p{…}` in the regex becomes that byte plus the ASCII members of the category.
/// - Any other regex runs on the codepoints, with non-ASCII whitespace replaced by 0x0B.
/// In both, `\s` `\d` `\w` are ASCII-only. Matches and the gaps between them both become pieces.
package struct RegexStage: Sendable {
    package let program: RegexProgram
    package let collapsed: Bool

    package init(regex: String) throws(TokenizerError) {
        let scalars = regex.unicodeScalars.map(\.value)
        let categories = Self.categories.map(\.name)
        collapsed = categories.contains { regex.contains($0) }
        var pattern = scalars
        if collapsed {
            guard scalars.allSatisfy({ $0 < 0x80 }) else {
                throw TokenizerError("regex mixes unicode categories and non-ASCII characters: \(regex)")
            }
            pattern = Self.collapse(scalars)
        }
        do {
            program = try RegexProgram(try RegexParser.parse(pattern))
        } catch {
            throw TokenizerError("regex '\(regex)' is not supported: \(error.message)")
        }
    }

    /// llama.cpp's placeholder byte and ASCII members per category it can collapse.
    static let categories: [(name: String, flag: UInt16)] = [
        ("\\p{N}", UnicodeFlags.number), ("\\p{L}", UnicodeFlags.letter), ("\\p{P}", UnicodeFlags.punctuation),
        ("\\p{M}", UnicodeFlags.accentMark), ("\\p{S}", UnicodeFlags.symbol), ("\\p{Lu}", UnicodeFlags.letter),
        ("\\p{Ll}", UnicodeFlags.letter), ("\\p{Lt}", UnicodeFlags.letter), ("\\p{Lm}", UnicodeFlags.letter),
        ("\\p{Lo}", UnicodeFlags.letter),
    ]

    static func placeholder(_ flag: UInt16) -> UInt32? {
        switch flag {
        case UnicodeFlags.number: 0xD1
        case UnicodeFlags.letter: 0xD2
        case UnicodeFlags.punctuation: 0xD3
        case UnicodeFlags.accentMark: 0xD4
        case UnicodeFlags.symbol: 0xD5
        default: nil
        }
    }

    static func asciiMembers(_ flag: UInt16) -> String {
        switch flag {
        case UnicodeFlags.number: "0-9"
        case UnicodeFlags.letter: "A-Za-z"
        case UnicodeFlags.punctuation: "!-#%-*,-/:-;?-@\\[-\\]_\\{\\}"
        case UnicodeFlags.symbol: "\\$\\+<->^`\\|\\~"
        default: ""
        }
    }

    /// The regex rewritten for the collapsed text, character for character as llama.cpp rewrites it (including how
    /// it decides whether a `\p{…}` is inside brackets).
    static func collapse(_ r: [UInt32]) -> [UInt32] {
        var out: [UInt32] = []
        var inside = false
        var i = 0
        while i < r.count {
            if r[i] == 0x5B && (i == 0 || r[i - 1] != 0x5C) {
                out.append(0x5B)
                inside = true
                i += 1
                continue
            }
            if inside && r[i] == 0x5D && r[i - 1] != 0x5C {
                out.append(0x5D)
                inside = false
                i += 1
                continue
            }
            if r[i] == 0x5C && i + 3 < r.count && r[i + 1] == 0x70 && r[i + 2] == 0x7B,
               let close = r[(i + 3)...].firstIndex(of: 0x7D), close <= i + 10 {
                let name = String(decoding: r[i...close].map { UInt8($0) }, as: UTF8.self)
                if let cat = categories.first(where: { $0.name == name }), let ph = placeholder(cat.flag) {
                    if !inside { out.append(0x5B) }
                    out.append(ph)
                    out.append(contentsOf: asciiMembers(cat.flag).unicodeScalars.map(\.value))
                    if !inside { out.append(0x5D) }
                    i = close + 1
                    continue
                }
            }
            out.append(r[i])
            i += 1
        }
        return out
    }

    /// The collapsed text of some codepoints.
    package static func collapsedText(_ cpts: UnsafeBufferPointer<UInt32>, _ flags: UnsafeBufferPointer<UInt16>) -> [UInt32] {
        var out = [UInt32](repeating: 0, count: cpts.count)
        for (i, c) in cpts.enumerated() {
            if c < 0x80 { out[i] = c; continue }
            let f = UnicodeFlags.of(c, in: flags)
            out[i] = f & UnicodeFlags.whitespace != 0 ? 0x0B : (placeholder(f & UnicodeFlags.categories) ?? 0xD0)
        }
        return out
    }

    /// The codepoints with non-ASCII whitespace replaced by 0x0B.
    package static func wideText(_ cpts: UnsafeBufferPointer<UInt32>, _ flags: UnsafeBufferPointer<UInt16>) -> [UInt32] {
        var out = Array(cpts)
        for (i, c) in cpts.enumerated() where c > 0x7F && UnicodeFlags.of(c, in: flags) & UnicodeFlags.whitespace != 0 {
            out[i] = 0x0B
        }
        return out
    }

    /// Splits each piece as llama.cpp's `unicode_regex_split_stl` with `std::regex_iterator` does: matches and the
    /// text between them; after an empty match, a non-empty match at the same place is tried before moving on.
    /// Empty pieces are left out (they tokenize to nothing and split nothing).
    package func split(_ text: UnsafeBufferPointer<UInt32>, pieces: [Int], matcher: inout RegexMatcher, into out: inout [Int]) {
        var start = 0
        for length in pieces {
            let end = start + length
            matcher.reset(text, start: start, end: end)
            var done = start  // end of the last piece emitted
            var found = matcher.search(from: start, anchored: false, notNull: false)
            while let m = found {
                if m.start > done { out.append(m.start - done) }
                if m.end > m.start { out.append(m.end - m.start) }
                done = m.end
                if m.start == m.end {
                    if m.end == end { break }
                    if let again = matcher.search(from: m.end, anchored: true, notNull: true) {
                        found = again
                        continue
                    }
                    found = matcher.search(from: m.end + 1, anchored: false, notNull: false)
                } else {
                    found = matcher.search(from: m.end, anchored: false, notNull: false)
                }
            }
            if done < end { out.append(end - done) }
            start = end
        }
    }
}
