import Foundation
import Testing
import TesseraFormats

/// Truncated or crafted files must give a typed error, never a crash or an out-of-bounds read.
@Suite struct HostileGGUFTests {
    static let original = try! Data(contentsOf: Bundle.module.url(
        forResource: "quants", withExtension: "gguf", subdirectory: "Fixtures")!)

    func open(_ bytes: Data) throws(FormatError) -> GGUFFile {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-hostile-\(UUID().uuidString).gguf")
        try! bytes.write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let f = try GGUFFile(path: url.path)
        // Reading every tensor must also stay within bounds.
        for name in f.tensorNames { _ = try f.floats(name) }
        return f
    }

    @Test func theUntouchedFileOpens() throws {
        let f = try open(Self.original)
        #expect(f.tensorNames.count == 12)
    }

    @Test func everyTruncationIsAnError() throws {
        // Bytes past the last tensor are alignment padding; cutting those leaves a complete file.
        let f = try open(Self.original)
        let needed = f.dataOffset + f.tensors.values.map { $0.offset + $0.byteCount! }.max()!
        #expect(needed > Self.original.count - f.alignment)
        for length in 0..<needed {
            #expect(throws: FormatError.self, "prefix of \(length) bytes") { try open(Self.original.prefix(length)) }
        }
    }

    /// A minimal GGUF header: magic, version, tensor count, metadata count.
    func header(version: UInt32 = 3, tensors: UInt64, kvs: UInt64) -> Data {
        var d = Data("GGUF".utf8)
        d.append(le: version)
        d.append(le: tensors)
        d.append(le: kvs)
        return d
    }

    func expectError(_ bytes: Data, containing text: String) {
        do {
            _ = try open(bytes)
            Issue.record("expected an error mentioning '\(text)'")
        } catch {
            #expect(error.message.contains(text), "\(error.message)")
        }
    }

    @Test func wrongMagicOrVersion() {
        expectError(Data("GGML....".utf8) + Data(count: 32), containing: "not a GGUF file")
        expectError(header(version: 1, tensors: 0, kvs: 0), containing: "unsupported GGUF version 1")
    }

    @Test func hugeCountsAreRefusedBeforeAllocating() {
        expectError(header(tensors: UInt64.max, kvs: 0), containing: "tensor count")
        expectError(header(tensors: 0, kvs: 1 << 60), containing: "metadata count")
    }

    @Test func hugeStringLength() {
        var d = header(tensors: 0, kvs: 1)
        d.append(le: UInt64.max - 3)
        expectError(d + Data(count: 16), containing: "length of key")
    }

    @Test func unknownValueType() {
        var d = header(tensors: 0, kvs: 1)
        d.append(le: UInt64(1))
        d.append(contentsOf: [UInt8(ascii: "k")])
        d.append(le: UInt32(99))
        expectError(d + Data(count: 16), containing: "unknown type 99")
    }

    @Test func hugeArrayCount() {
        var d = header(tensors: 0, kvs: 1)
        d.append(le: UInt64(1))
        d.append(contentsOf: [UInt8(ascii: "k")])
        d.append(le: UInt32(9))  // array
        d.append(le: UInt32(8))  // of strings
        d.append(le: UInt64(1) << 61)
        expectError(d + Data(count: 16), containing: "element count")
    }

    func tensorFile(dims: [UInt64], type: UInt32, offset: UInt64, dataBytes: Int) -> Data {
        var d = header(tensors: 1, kvs: 0)
        d.append(le: UInt64(1))
        d.append(contentsOf: [UInt8(ascii: "t")])
        d.append(le: UInt32(dims.count))
        for x in dims { d.append(le: x) }
        d.append(le: type)
        d.append(le: offset)
        while d.count % 32 != 0 { d.append(0) }
        return d + Data(count: dataBytes)
    }

    @Test func tensorExtentsAreChecked() {
        expectError(tensorFile(dims: [64, 2], type: 0, offset: 0, dataBytes: 100), containing: "truncated: tensor 't'")
        expectError(tensorFile(dims: [64, 2], type: 0, offset: 1 << 62, dataBytes: 512), containing: "truncated: tensor 't'")
        expectError(tensorFile(dims: [64, 2], type: 0, offset: 3, dataBytes: 512), containing: "alignment")
        expectError(tensorFile(dims: [1 << 31, 1 << 31, 1 << 31], type: 0, offset: 0, dataBytes: 0), containing: "dimension")
        expectError(tensorFile(dims: [0x7fff_ffff, 0x7fff_ffff, 0x7fff_ffff], type: 0, offset: 0, dataBytes: 0), containing: "overflows")
        expectError(tensorFile(dims: [33], type: 2, offset: 0, dataBytes: 64), containing: "not whole Q4_0 blocks")
        expectError(tensorFile(dims: [4, 4, 4, 4, 4], type: 0, offset: 0, dataBytes: 0), containing: "5 dimensions")
    }

    @Test func unsupportedTypeFailsOnlyWhenRead() throws {
        let f = try GGUFFile(path: {
            let url = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-q2k-\(UUID().uuidString).gguf")
            try! tensorFile(dims: [256], type: 10, offset: 0, dataBytes: 96).write(to: url)  // Q2_K
            return url.path
        }())
        #expect(throws: FormatError.self) { try f.floats("t") }
    }
}

extension Data {
    mutating func append<T: FixedWidthInteger>(le value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }
}
