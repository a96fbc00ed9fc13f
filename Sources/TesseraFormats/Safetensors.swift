import Foundation

/// A safetensors file (the format PEFT saves adapters in), read from untrusted bytes: an 8-byte little-endian header
/// length, a JSON header naming each tensor's dtype, shape and byte range, then the data. Every length, offset and
/// shape product is checked before anything is read (DESIGN 3.10).
public struct Safetensors: Sendable {
    public enum DType: String, Sendable {
        case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
        case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u8 = "U8", bool = "BOOL"

        public var size: Int {
            switch self {
            case .f64, .i64: 8
            case .f32, .i32: 4
            case .f16, .bf16, .i16: 2
            case .i8, .u8, .bool: 1
            }
        }
    }

    public struct Tensor: Sendable, Equatable {
        public let name: String
        public let dtype: DType
        public let shape: [Int]
        /// Byte range within the data section.
        public let range: Range<Int>
        public var elementCount: Int { shape.reduce(1, *) }
    }

    /// Largest JSON header accepted; real adapters have a few hundred tensors.
    public static let maxHeaderBytes = 16 << 20

    public let name: String
    public let tensors: [String: Tensor]
    public let metadata: [String: String]
    private let data: Data

    /// Parses `bytes`; `name` is how errors refer to the file.
    public init(bytes: Data, name: String) throws(FormatError) {
        self.name = name
        func fail(_ message: String) -> FormatError { FormatError(name, message) }
        guard bytes.count >= 8 else { throw fail("truncated: \(bytes.count) bytes, a safetensors file starts with an 8-byte header length") }
        let headerLength = bytes.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength <= UInt64(Self.maxHeaderBytes) else {
            throw fail("header length \(headerLength) is over the limit of \(Self.maxHeaderBytes) bytes")
        }
        guard Int(headerLength) <= bytes.count - 8 else {
            throw fail("truncated: header of \(headerLength) bytes, but only \(bytes.count - 8) follow")
        }
        let dataStart = 8 + Int(headerLength)
        let header = bytes.subdata(in: bytes.startIndex + 8..<bytes.startIndex + dataStart)
        let entries: [String: HeaderEntry]
        do {
            entries = try JSONDecoder().decode([String: HeaderEntry].self, from: header)
        } catch {
            throw fail("header is not a JSON object of tensor entries: \(Self.describe(error))")
        }
        let dataLength = bytes.count - dataStart
        var tensors: [String: Tensor] = [:]
        var metadata: [String: String] = [:]
        for (key, entry) in entries {
            switch entry {
            case .metadata(let m):
                guard key == "__metadata__" else { throw fail("tensor '\(key)': entry has no dtype, shape and data_offsets") }
                metadata = m
            case .tensor(let dtype, let shape, let offsets):
                guard key != "__metadata__" else { throw fail("__metadata__ is not an object of strings") }
                tensors[key] = try Self.tensor(key, dtype, shape, offsets, dataLength: dataLength, fail: fail)
            }
        }
        // The data section must be covered exactly once: no overlaps, no holes (the format's own rule).
        var end = 0
        for t in tensors.values.sorted(by: { $0.range.lowerBound < $1.range.lowerBound }) {
            guard t.range.lowerBound == end else {
                throw fail(t.range.lowerBound < end ? "tensor '\(t.name)' overlaps the one before it"
                                                    : "bytes \(end)..<\(t.range.lowerBound) of the data belong to no tensor")
            }
            end = t.range.upperBound
        }
        guard end == dataLength else { throw fail("the data section has \(dataLength) bytes but its tensors end at \(end)") }
        self.tensors = tensors
        self.metadata = metadata
        data = bytes[(bytes.startIndex + dataStart)...]  // a slice: shares the buffer, no copy
    }

    private enum HeaderEntry: Decodable {
        case tensor(dtype: String, shape: [Int], offsets: [Int])
        case metadata([String: String])

        private enum Keys: String, CodingKey { case dtype, shape, data_offsets }

        init(from decoder: Decoder) throws {
            if let m = try? decoder.singleValueContainer().decode([String: String].self) {
                self = .metadata(m)
                return
            }
            let c = try decoder.container(keyedBy: Keys.self)
            self = .tensor(dtype: try c.decode(String.self, forKey: .dtype), shape: try c.decode([Int].self, forKey: .shape),
                           offsets: try c.decode([Int].self, forKey: .data_offsets))
        }
    }

    private static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let c): "'\(key.stringValue)' missing at \(path(c.codingPath))"
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c): "wrong type at \(path(c.codingPath))"
        case DecodingError.dataCorrupted(let c): c.codingPath.isEmpty ? "not valid JSON" : "bad value at \(path(c.codingPath))"
        default: "\(error)"
        }
    }

    private static func path(_ keys: [CodingKey]) -> String { keys.map(\.stringValue).joined(separator: ".") }

    private static func tensor(
        _ key: String, _ dtypeName: String, _ shape: [Int], _ offsets: [Int], dataLength: Int, fail: (String) -> FormatError
    ) throws(FormatError) -> Tensor {
        guard let dtype = DType(rawValue: dtypeName) else { throw fail("tensor '\(key)': unknown dtype '\(dtypeName)'") }
        guard shape.count <= 8 else { throw fail("tensor '\(key)': shape has \(shape.count) dimensions, at most 8 are allowed") }
        var count = 1
        for d in shape {
            guard d >= 0 else { throw fail("tensor '\(key)': shape \(shape) has a negative dimension") }
            let (c, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow, c <= dataLength else { throw fail("tensor '\(key)': shape \(shape) is larger than the file") }
            count = c
        }
        guard offsets.count == 2 else { throw fail("tensor '\(key)': data_offsets has \(offsets.count) values, not 2") }
        let (b, e) = (offsets[0], offsets[1])
        guard 0 <= b, b <= e, e <= dataLength else {
            throw fail("tensor '\(key)': data_offsets [\(b), \(e)] are outside the data section of \(dataLength) bytes")
        }
        guard e - b == count * dtype.size else {
            throw fail("tensor '\(key)': \(e - b) bytes for shape \(shape) of \(dtype.rawValue), which needs \(count * dtype.size)")
        }
        return Tensor(name: key, dtype: dtype, shape: shape, range: b..<e)
    }

    /// A floating-point tensor's values as Float (F32, F16 and BF16; others are refused by name).
    public func floats(_ tensorName: String) throws(FormatError) -> [Float] {
        guard let t = tensors[tensorName] else { throw FormatError(name, "no tensor '\(tensorName)'") }
        let n = t.elementCount
        let values: [Float]? = data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> [Float]? in
            let p = raw.baseAddress! + t.range.lowerBound
            func u16(_ i: Int) -> UInt16 { UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
            switch t.dtype {
            case .f32:  // little-endian hosts only (x86-64, arm64): a plain copy
                return [Float](unsafeUninitializedCapacity: n) { out, count in
                    UnsafeMutableRawPointer(out.baseAddress!).copyMemory(from: p, byteCount: 4 * n)
                    count = n
                }
            case .f16: return (0..<n).map { Float(Float16(bitPattern: u16($0))) }
            case .bf16: return (0..<n).map { Float(bitPattern: UInt32(u16($0)) << 16) }
            default: return nil
            }
        }
        guard let values else {
            throw FormatError(name, "tensor '\(tensorName)' is \(t.dtype.rawValue); adapters hold F32, F16 or BF16")
        }
        return values
    }

    /// Writes F32 tensors as a safetensors file (what tests and the trainer's PEFT export need).
    public static func encode(_ tensors: [(name: String, shape: [Int], values: [Float])], metadata: [String: String] = [:]) -> Data {
        var header: [String: Any] = metadata.isEmpty ? [:] : ["__metadata__": metadata]
        var offset = 0
        var body = Data()
        for t in tensors {
            let bytes = t.values.count * 4
            header[t.name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + bytes]]
            offset += bytes
            for v in t.values { withUnsafeBytes(of: v.bitPattern.littleEndian) { body.append(contentsOf: $0) } }
        }
        var json = (try? JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])) ?? Data("{}".utf8)
        while json.count % 8 != 0 { json.append(0x20) }  // the format pads the header with spaces
        var out = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        return out + json + body
    }
}
