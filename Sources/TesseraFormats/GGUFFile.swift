import TesseraKernels

/// A GGUF model file, memory-mapped. Tensor data is never copied: views point into the mapping.
///
/// Everything read from the file is checked before use: counts against the bytes left, dimension products and
/// byte sizes with overflow-checked arithmetic, every tensor's extent against the file size.
public final class GGUFFile: Sendable {
    public let file: MappedFile
    public let version: UInt32
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    public let tensors: [String: GGUFTensorInfo]
    /// Tensor names in file order.
    public let tensorNames: [String]
    public let alignment: Int
    public let dataOffset: Int

    public var path: String { file.path }

    public convenience init(path: String) throws(FormatError) {
        try self.init(file: MappedFile(path: path))
    }

    public init(file: MappedFile) throws(FormatError) {
        self.file = file
        var r = ByteReader(file.bytes, file: file.path)
        let magic = try r.read(UInt32.self, "magic")
        guard magic == 0x4655_4747 else {  // "GGUF" little-endian
            throw r.error("not a GGUF file: magic is 0x\(String(magic, radix: 16)), expected 'GGUF'")
        }
        version = try r.read(UInt32.self, "version")
        guard version == 2 || version == 3 else { throw r.error("unsupported GGUF version \(version) (2 and 3 are)") }
        // Each tensor info takes at least 8+4+8+4+8 bytes, each key-value at least 8+4+1.
        let tensorCount = try r.readCount("tensor count", unit: 32)
        let kvCount = try r.readCount("metadata count", unit: 13)

        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        for i in 0..<kvCount {
            let key = try r.readString("key of metadata entry \(i)")
            let raw = try r.read(UInt32.self, "type of '\(key)'")
            guard let tag = GGUFValue.Tag(rawValue: raw) else { throw r.error("metadata '\(key)' has unknown type \(raw)") }
            let value = try GGUFValue.read(&r, tag: tag, what: "metadata '\(key)'")
            guard metadata.updateValue(value, forKey: key) == nil else { throw r.error("metadata key '\(key)' appears twice") }
            keys.append(key)
        }
        self.metadata = metadata
        metadataKeys = keys

        var alignment = 32
        if let a = metadata["general.alignment"] {
            guard let v = a.int, v > 0, v <= 1 << 20, v & (v - 1) == 0 else {
                throw r.error("general.alignment must be a power of two up to 1 MiB, got \(a)")
            }
            alignment = v
        }
        self.alignment = alignment

        var infos: [GGUFTensorInfo] = []
        infos.reserveCapacity(tensorCount)
        for i in 0..<tensorCount {
            let name = try r.readString("name of tensor \(i)")
            let nDims = try r.read(UInt32.self, "dimension count of '\(name)'")
            guard (1...4).contains(nDims) else { throw r.error("tensor '\(name)' has \(nDims) dimensions (1 to 4 allowed)") }
            var dims: [Int] = []
            var count = 1
            for d in 0..<Int(nDims) {
                let v = try r.read(UInt64.self, "dimension \(d) of '\(name)'")
                guard v > 0, v <= UInt64(Int32.max) else { throw r.error("tensor '\(name)' dimension \(d) is \(v)") }
                let (c, o) = count.multipliedReportingOverflow(by: Int(v))
                guard !o else { throw r.error("tensor '\(name)' element count overflows") }
                count = c
                dims.append(Int(v))
            }
            let typeID = try r.read(UInt32.self, "type of '\(name)'")
            let offset = try r.read(UInt64.self, "offset of '\(name)'")
            guard offset <= UInt64(Int.max) else { throw r.error("tensor '\(name)' offset \(offset) is too large") }
            guard Int(offset) % alignment == 0 else {
                throw r.error("tensor '\(name)' offset \(offset) is not a multiple of the alignment \(alignment)")
            }
            let type = GGMLType(rawValue: typeID)
            var byteCount: Int?
            if let type {
                guard dims[0] % type.blockValues == 0 else {
                    throw r.error("tensor '\(name)' row of \(dims[0]) values is not whole \(type.name) blocks of \(type.blockValues)")
                }
                let (b, o) = (count / type.blockValues).multipliedReportingOverflow(by: type.blockBytes)
                guard !o else { throw r.error("tensor '\(name)' byte size overflows") }
                byteCount = b
            }
            infos.append(GGUFTensorInfo(
                name: name, dimensions: dims, typeID: typeID, type: type, offset: Int(offset),
                elementCount: count, byteCount: byteCount))
        }

        let (padded, o) = r.offset.addingReportingOverflow(alignment - 1)
        guard !o else { throw r.error("header size overflows") }
        dataOffset = padded / alignment * alignment
        var tensors: [String: GGUFTensorInfo] = [:]
        for info in infos {
            if let size = info.byteCount {
                let (start, o1) = dataOffset.addingReportingOverflow(info.offset)
                let (end, o2) = start.addingReportingOverflow(size)
                guard !o1, !o2, end <= file.bytes.count else {
                    throw FormatError(file.path, "truncated: tensor '\(info.name)' needs bytes up to \(o1 || o2 ? "beyond Int.max" : String(end)), the file has \(file.bytes.count)")
                }
            }
            guard tensors.updateValue(info, forKey: info.name) == nil else {
                throw FormatError(file.path, "tensor '\(info.name)' appears twice")
            }
        }
        self.tensors = tensors
        tensorNames = infos.map(\.name)
    }

    /// The tensor's info, or an error naming the missing tensor.
    public func info(_ name: String) throws(FormatError) -> GGUFTensorInfo {
        guard let t = tensors[name] else { throw FormatError(path, "tensor '\(name)' is missing") }
        return t
    }

    /// The tensor's bytes inside the mapping (no copy).
    public func data(_ info: GGUFTensorInfo) throws(FormatError) -> UnsafeRawBufferPointer {
        guard info.type != nil, let size = info.byteCount else {
            throw FormatError(path, "tensor '\(info.name)' has type \(info.typeID), which Tessera does not support (supported: \(GGMLType.allCases.map(\.name).joined(separator: ", ")))")
        }
        let start = dataOffset + info.offset
        return UnsafeRawBufferPointer(rebasing: file.bytes[start..<start + size])
    }

    /// Drops the tensor's pages from this process's resident set, once its data has been copied elsewhere.
    public func release(_ name: String) {
        guard let t = tensors[name], let size = t.byteCount else { return }
        file.release((dataOffset + t.offset)..<(dataOffset + t.offset + size))
    }

    /// A 2-D tensor (or a 1-D one as a single row) as a kernel weight matrix.
    public func matrix(_ name: String) throws(FormatError) -> WeightMatrix {
        let t = try info(name)
        let bytes = try data(t)
        guard t.dimensions.count <= 2 else { throw FormatError(path, "tensor '\(name)' has \(t.dimensions.count) dimensions, expected a matrix") }
        let rows = t.dimensions.count == 2 ? t.dimensions[1] : 1
        guard let m = WeightMatrix(type: Int32(t.typeID), rows: rows, columns: t.dimensions[0], base: bytes.baseAddress!) else {
            throw FormatError(path, "tensor '\(name)' cannot be viewed as a matrix")
        }
        return m
    }

    /// All values of a tensor as 32-bit floats, outermost dimension last-to-first as stored (row-major).
    public func floats(_ name: String) throws(FormatError) -> [Float] {
        let t = try info(name)
        let m = try matrix2D(t)
        return [Float](unsafeUninitializedCapacity: t.elementCount) { buf, n in
            for r in 0..<m.rows { m.dequantizeRow(r, into: buf.baseAddress! + r * m.columns) }
            n = t.elementCount
        }
    }

    /// Views any tensor as [elements / innermost, innermost] for row-wise dequantization.
    private func matrix2D(_ t: GGUFTensorInfo) throws(FormatError) -> WeightMatrix {
        let bytes = try data(t)
        guard let m = WeightMatrix(type: Int32(t.typeID), rows: t.elementCount / t.dimensions[0], columns: t.dimensions[0], base: bytes.baseAddress!) else {
            throw FormatError(path, "tensor '\(t.name)' cannot be viewed as rows")
        }
        return m
    }

    // MARK: typed metadata access

    public func string(_ key: String) throws(FormatError) -> String {
        guard let v = metadata[key]?.string else { throw FormatError(path, "metadata '\(key)' is missing or not a string") }
        return v
    }

    public func int(_ key: String) throws(FormatError) -> Int {
        guard let v = metadata[key]?.int else { throw FormatError(path, "metadata '\(key)' is missing or not an integer") }
        return v
    }

    public func double(_ key: String) throws(FormatError) -> Double {
        guard let v = metadata[key]?.double else { throw FormatError(path, "metadata '\(key)' is missing or not a number") }
        return v
    }

    public func array(_ key: String) throws(FormatError) -> [GGUFValue] {
        guard let v = metadata[key]?.array else { throw FormatError(path, "metadata '\(key)' is missing or not an array") }
        return v
    }
}
