/// GPT-2's reversible map between bytes and printable characters, in which byte-level BPE vocabularies are written.
enum ByteLevel {
    /// Character for each byte value.
    static let byteToScalar: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            let printable = (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b)
            if printable {
                table[b] = Unicode.Scalar(UInt32(b))!
            } else {
                table[b] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// Byte for each character of the map; nil for characters outside it.
    static let scalarToByte: [UInt32: UInt8] = {
        var map: [UInt32: UInt8] = [:]
        for (b, s) in byteToScalar.enumerated() { map[s.value] = UInt8(b) }
        return map
    }()

    /// The bytes a byte-level string spells, or nil when it holds a character outside the map.
    static func decode(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(text.unicodeScalars.count)
        for s in text.unicodeScalars {
            guard let b = scalarToByte[s.value] else { return nil }
            out.append(b)
        }
        return out
    }
}

extension ByteLevel {
    /// llama.cpp's `llama_decode_text`: each character of a byte-level token back to its byte; a character outside
    /// the map is written as `[UNK_BYTE_0x…]` followed by the whole token text, as llama.cpp writes it.
    static func decodeForPiece(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        for s in text.unicodeScalars {
            if let b = scalarToByte[s.value] {
                out.append(b)
            } else {
                var utf8: [UInt8] = []
                UTF8.encode(s) { utf8.append($0) }
                let hex = utf8.map { b in String(b, radix: 16).count == 1 ? "0" + String(b, radix: 16) : String(b, radix: 16) }.joined()
                out.append(contentsOf: Array("[UNK_BYTE_0x\(hex)\(text)]".utf8))
            }
        }
        return out
    }
}
