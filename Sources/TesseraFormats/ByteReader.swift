/// A cursor over untrusted bytes: every read checks the remaining length first and throws instead of reading past it.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    let file: String
    private(set) var offset: Int = 0

    init(_ bytes: UnsafeRawBufferPointer, file: String) {
        self.bytes = bytes
        self.file = file
    }

    var remaining: Int { bytes.count - offset }

    func error(_ what: String) -> FormatError { FormatError(file, "\(what) (at byte \(offset))") }

    mutating func skip(_ n: Int, _ what: String) throws(FormatError) {
        guard n >= 0, n <= remaining else { throw error("truncated: \(what) needs \(n) bytes, \(remaining) left") }
        offset += n
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: String) throws(FormatError) -> T {
        let size = MemoryLayout<T>.size
        guard size <= remaining else { throw error("truncated: \(what) needs \(size) bytes, \(remaining) left") }
        let v = bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += size
        return T(littleEndian: v)
    }

    mutating func readFloat(_ what: String) throws(FormatError) -> Float {
        Float(bitPattern: try read(UInt32.self, what))
    }

    mutating func readDouble(_ what: String) throws(FormatError) -> Double {
        Double(bitPattern: try read(UInt64.self, what))
    }

    /// A length that must fit in what is left of the input, counting `unit` bytes per element.
    mutating func readCount(_ what: String, unit: Int) throws(FormatError) -> Int {
        let n = try read(UInt64.self, what)
        guard n <= UInt64(Int.max) else { throw error("\(what) \(n) is too large") }
        let (bytes, overflow) = Int(n).multipliedReportingOverflow(by: max(unit, 1))
        guard !overflow, bytes <= remaining else {
            throw error("\(what) \(n) exceeds the \(remaining) bytes left in the file")
        }
        return Int(n)
    }

    mutating func readString(_ what: String) throws(FormatError) -> String {
        let n = try readCount("length of \(what)", unit: 1)
        let s = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + n]), as: UTF8.self)
        offset += n
        return s
    }
}
