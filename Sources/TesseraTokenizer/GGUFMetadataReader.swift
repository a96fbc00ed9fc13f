import TesseraFormats

/// Typed reads of a GGUF file's tokenizer metadata; every error names the file and the key.
struct GGUFMetadataReader {
    let path: String
    let metadata: [String: GGUFValue]

    init(_ gguf: GGUFFile) {
        path = gguf.path
        metadata = gguf.metadata
    }

    func string(_ key: String) throws(TokenizerError) -> String {
        guard let v = metadata[key] else { throw TokenizerError("\(path): \(key) is missing") }
        guard let s = v.string else { throw TokenizerError("\(path): \(key) is not a string") }
        return s
    }

    func optionalString(_ key: String) -> String? { metadata[key]?.string }

    func optionalBool(_ key: String) throws(TokenizerError) -> Bool? {
        guard let v = metadata[key] else { return nil }
        guard let b = v.bool else { throw TokenizerError("\(path): \(key) is not a boolean") }
        return b
    }

    func optionalInt(_ key: String) -> Int? { metadata[key]?.int }

    func strings(_ key: String) throws(TokenizerError) -> [String] {
        guard let v = metadata[key] else { throw TokenizerError("\(path): \(key) is missing") }
        guard let a = v.array else { throw TokenizerError("\(path): \(key) is not an array") }
        var out: [String] = []
        out.reserveCapacity(a.count)
        for (i, x) in a.enumerated() {
            guard let s = x.string else { throw TokenizerError("\(path): \(key)[\(i)] is not a string") }
            out.append(s)
        }
        return out
    }

    /// A numeric array of at least `n` entries (GGUF stores scores as float32, some converters as int32).
    func optionalFloats(_ key: String, atLeast n: Int) throws(TokenizerError) -> [Float]? {
        guard let v = metadata[key] else { return nil }
        guard let a = v.array else { throw TokenizerError("\(path): \(key) is not an array") }
        guard a.count >= n else { throw TokenizerError("\(path): \(key) has \(a.count) entries for \(n) tokens") }
        var out: [Float] = []
        out.reserveCapacity(a.count)
        for (i, x) in a.enumerated() {
            if let d = x.double { out.append(Float(d)) } else if let k = x.int { out.append(Float(k)) } else {
                throw TokenizerError("\(path): \(key)[\(i)] is not a number")
            }
        }
        return out
    }

    func optionalInts(_ key: String, atLeast n: Int) throws(TokenizerError) -> [Int]? {
        guard let v = metadata[key] else { return nil }
        guard let a = v.array else { throw TokenizerError("\(path): \(key) is not an array") }
        guard a.count >= n else { throw TokenizerError("\(path): \(key) has \(a.count) entries for \(n) tokens") }
        var out: [Int] = []
        out.reserveCapacity(a.count)
        for (i, x) in a.enumerated() {
            guard let k = x.int else { throw TokenizerError("\(path): \(key)[\(i)] is not an integer") }
            out.append(k)
        }
        return out
    }
}
