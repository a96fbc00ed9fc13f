import Foundation
import TesseraFormats

/// Writes a GGUF file again with its metadata or tensor list edited and the same tensor data: hostile-file tests
/// start from a real file of each family and change one thing.
public enum GGUFRewriter {
    public struct Tensor {
        public var name: String
        public var dimensions: [Int]
        public var typeID: UInt32
        public var offset: Int
    }

    /// The file's bytes after `edit` changed its metadata and tensor list (data offsets are kept; a tensor whose data
    /// is not there is what a test may want).
    public static func rewrite(_ file: GGUFFile, edit: (inout [String: GGUFValue], inout [Tensor]) -> Void) throws -> Data {
        var metadata = file.metadata
        var tensors = file.tensorNames.map { name in
            let t = file.tensors[name]!
            return Tensor(name: name, dimensions: t.dimensions, typeID: t.typeID, offset: t.offset)
        }
        edit(&metadata, &tensors)
        var out = Data("GGUF".utf8)
        append(&out, UInt32(3))
        append(&out, UInt64(tensors.count))
        append(&out, UInt64(metadata.count))
        for key in metadata.keys.sorted() {
            string(&out, key)
            value(&out, metadata[key]!, typed: true)
        }
        for t in tensors {
            string(&out, t.name)
            append(&out, UInt32(t.dimensions.count))
            for d in t.dimensions { append(&out, UInt64(d)) }
            append(&out, t.typeID)
            append(&out, UInt64(t.offset))
        }
        let alignment = metadata["general.alignment"]?.int ?? 32
        while out.count % alignment != 0 { out.append(0) }
        let original = try Data(contentsOf: URL(fileURLWithPath: file.path))
        out.append(original[file.dataOffset...])
        return out
    }

    private static func append<T: FixedWidthInteger>(_ d: inout Data, _ v: T) {
        withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) }
    }

    private static func string(_ d: inout Data, _ s: String) {
        append(&d, UInt64(s.utf8.count))
        d.append(contentsOf: Array(s.utf8))
    }

    private static func typeID(_ v: GGUFValue) -> UInt32 {
        switch v {
        case .uint8: 0
        case .int8: 1
        case .uint16: 2
        case .int16: 3
        case .uint32: 4
        case .int32: 5
        case .float32: 6
        case .bool: 7
        case .string: 8
        case .array: 9
        case .uint64: 10
        case .int64: 11
        case .float64: 12
        }
    }

    private static func value(_ d: inout Data, _ v: GGUFValue, typed: Bool) {
        if typed { append(&d, typeID(v)) }
        switch v {
        case .uint8(let x): append(&d, x)
        case .int8(let x): append(&d, x)
        case .uint16(let x): append(&d, x)
        case .int16(let x): append(&d, x)
        case .uint32(let x): append(&d, x)
        case .int32(let x): append(&d, x)
        case .uint64(let x): append(&d, x)
        case .int64(let x): append(&d, x)
        case .float32(let x): append(&d, x.bitPattern)
        case .float64(let x): append(&d, x.bitPattern)
        case .bool(let x): d.append(x ? 1 : 0)
        case .string(let s): string(&d, s)
        case .array(let items):
            append(&d, items.first.map(typeID) ?? 4)
            append(&d, UInt64(items.count))
            for item in items { value(&d, item, typed: false) }
        }
    }
}
