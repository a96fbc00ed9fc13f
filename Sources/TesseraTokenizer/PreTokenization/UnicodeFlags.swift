/// llama.cpp's classification of codepoints (`unicode_cpt_flags`), which its pre-tokenizers split by. Its tables
/// (UnicodeData.swift, generated from the vendored `unicode-data.cpp`) are used rather than Swift's
/// `Unicode.Scalar.Properties`, whose Unicode version differs: ids must not change with the toolchain.
package enum UnicodeFlags {
    static let undefined: UInt16 = 0x0001
    static let number: UInt16 = 0x0002
    static let letter: UInt16 = 0x0004
    static let separator: UInt16 = 0x0008
    static let accentMark: UInt16 = 0x0010
    static let punctuation: UInt16 = 0x0020
    static let symbol: UInt16 = 0x0040
    static let control: UInt16 = 0x0080
    static let categories: UInt16 = 0x00FF
    static let whitespace: UInt16 = 0x0100

    static let codepointLimit = 0x110000

    /// Flags of every codepoint below U+110000, one entry each (2.2 MB, built on first use): the splitters look up
    /// every character, so a flat table beats a search over ranges.
    package static let table: [UInt16] = {
        var t = [UInt16](repeating: undefined, count: codepointLimit)
        let ranges = packedRanges
        t.withUnsafeMutableBufferPointer { t in
            for i in ranges.indices {
                let start = Int(ranges[i] >> 8)
                let end = i + 1 < ranges.count ? Int(ranges[i + 1] >> 8) : codepointLimit
                let flags = UInt16(ranges[i] & 0xFF)
                for c in start..<min(end, codepointLimit) { t[c] = flags }
            }
            for c in whitespaceCodepoints { t[Int(c)] |= whitespace }
        }
        return t
    }()

    /// Flags of one codepoint: `undefined` beyond U+10FFFF, as llama.cpp.
    @inline(__always)
    static func of(_ c: UInt32, in table: UnsafeBufferPointer<UInt16>) -> UInt16 {
        c < UInt32(codepointLimit) ? table[Int(c)] : undefined
    }

    /// llama.cpp's `unicode_tolower` where the splitters use it: after an apostrophe, to recognise `'S`, `'LL` …; its
    /// table maps only ASCII capitals to the letters they compare with.
    @inline(__always)
    static func asciiLower(_ c: UInt32) -> UInt32 {
        (0x41...0x5A).contains(c) ? c + 0x20 : c
    }

    /// Han characters as llama.cpp's `unicode_cpt_is_han` (Kimi K2).
    @inline(__always)
    static func isHan(_ c: UInt32) -> Bool {
        (0x4E00...0x9FFF).contains(c) || (0x3400...0x4DBF).contains(c) || (0x20000...0x2A6DF).contains(c)
            || (0x2A700...0x2EBEF).contains(c) || (0xF900...0xFAFF).contains(c) || (0x2F800...0x2FA1F).contains(c)
    }
}

/// UTF-8 to codepoints exactly as llama.cpp's `unicode_cpts_from_utf8`: a malformed sequence becomes U+FFFD and
/// skips one byte; its decoder accepts overlong forms and values up to 0x1FFFFF, which are kept.
package enum LlamaUTF8 {
    package static func codepoints(_ bytes: UnsafeBufferPointer<UInt8>, into out: inout [UInt32]) {
        let n = bytes.count
        var i = 0
        out.reserveCapacity(out.count + n)
        while i < n {
            let b0 = UInt32(bytes[i])
            if b0 < 0x80 {
                out.append(b0)
                i += 1
                continue
            }
            if b0 & 0x40 == 0 {
                out.append(0xFFFD); i += 1; continue
            }
            if b0 & 0x20 == 0 {
                if i + 1 < n, bytes[i + 1] & 0xC0 == 0x80 {
                    out.append((b0 & 0x1F) << 6 | UInt32(bytes[i + 1] & 0x3F))
                    i += 2
                } else {
                    out.append(0xFFFD); i += 1
                }
                continue
            }
            if b0 & 0x10 == 0 {
                if i + 2 < n, bytes[i + 1] & 0xC0 == 0x80, bytes[i + 2] & 0xC0 == 0x80 {
                    out.append((b0 & 0x0F) << 12 | UInt32(bytes[i + 1] & 0x3F) << 6 | UInt32(bytes[i + 2] & 0x3F))
                    i += 3
                } else {
                    out.append(0xFFFD); i += 1
                }
                continue
            }
            if b0 & 0x08 == 0 {
                if i + 3 < n, bytes[i + 1] & 0xC0 == 0x80, bytes[i + 2] & 0xC0 == 0x80, bytes[i + 3] & 0xC0 == 0x80 {
                    out.append((b0 & 0x07) << 18 | UInt32(bytes[i + 1] & 0x3F) << 12 | UInt32(bytes[i + 2] & 0x3F) << 6
                        | UInt32(bytes[i + 3] & 0x3F))
                    i += 4
                } else {
                    out.append(0xFFFD); i += 1
                }
                continue
            }
            out.append(0xFFFD)
            i += 1
        }
    }

    /// Appends the UTF-8 of a codepoint. llama.cpp throws for values above U+10FFFF (only reachable from malformed
    /// input, which a Swift String never holds); they are written as U+FFFD here.
    @inline(__always)
    package static func append(_ c: UInt32, to out: inout [UInt8]) {
        if c < 0x80 {
            out.append(UInt8(c))
        } else if c < 0x800 {
            out.append(UInt8(0xC0 | (c >> 6)))
            out.append(UInt8(0x80 | (c & 0x3F)))
        } else if c < 0x10000 {
            out.append(UInt8(0xE0 | (c >> 12)))
            out.append(UInt8(0x80 | ((c >> 6) & 0x3F)))
            out.append(UInt8(0x80 | (c & 0x3F)))
        } else if c < 0x110000 {
            out.append(UInt8(0xF0 | (c >> 18)))
            out.append(UInt8(0x80 | ((c >> 12) & 0x3F)))
            out.append(UInt8(0x80 | ((c >> 6) & 0x3F)))
            out.append(UInt8(0x80 | (c & 0x3F)))
        } else {
            out.append(contentsOf: [0xEF, 0xBF, 0xBD])
        }
    }
}
