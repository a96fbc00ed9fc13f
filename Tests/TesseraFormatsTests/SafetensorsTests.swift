import Foundation
import Testing
import TesseraFormats

@Suite struct SafetensorsTests {
    static let valid = Safetensors.encode([
        (name: "a", shape: [2, 3], values: [1, 2, 3, 4, 5, 6]),
        (name: "b", shape: [1], values: [-0.5]),
    ], metadata: ["format": "pt"])

    /// A file with a hand-written header and `data` bytes of data.
    func file(_ header: String, data: Int) -> Data {
        var out = Data()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { out.append(contentsOf: $0) }
        return out + Data(header.utf8) + Data(repeating: 0, count: data)
    }

    func error(_ bytes: Data) -> String? {
        do {
            _ = try Safetensors(bytes: bytes, name: "t.safetensors")
            return nil
        } catch {
            return error.message
        }
    }

    @Test func readsWhatItWrites() throws {
        let f = try Safetensors(bytes: Self.valid, name: "t.safetensors")
        #expect(f.metadata == ["format": "pt"])
        #expect(f.tensors["a"]?.shape == [2, 3] && f.tensors["a"]?.dtype == .f32)
        #expect(try f.floats("a") == [1, 2, 3, 4, 5, 6])
        #expect(try f.floats("b") == [-0.5])
    }

    @Test func readsHalfPrecision() throws {
        // 1.5 and -2 in F16 (0x3E00, 0xC000) and BF16 (0x3FC0, 0xC000).
        let header = #"{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[4,8]}}"#
        var bytes = file(header, data: 0)
        bytes.append(contentsOf: [0x00, 0x3E, 0x00, 0xC0, 0xC0, 0x3F, 0x00, 0xC0])
        let f = try Safetensors(bytes: bytes, name: "t")
        #expect(try f.floats("h") == [1.5, -2])
        #expect(try f.floats("b") == [1.5, -2])
    }

    @Test func everyTruncationIsAnError() {
        for n in 0..<Self.valid.count {
            #expect(error(Self.valid.prefix(n)) != nil, "prefix of \(n) bytes")
        }
    }

    @Test func hostileHeadersAreRefusedWithAReason() {
        let cases: [(Data, String)] = [
            (Data([1, 2, 3]), "truncated: 3 bytes, a safetensors file starts with an 8-byte header length"),
            (Data([100, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x20, 0x20, 0x20]), "truncated: header of 100 bytes, but only 4 follow"),
            (file("{", data: 0), "header is not a JSON object of tensor entries: not valid JSON"),
            (Data([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), "header length 18446744073709551615 is over the limit of 16777216 bytes"),
            (file("[1,2]", data: 0), "header is not a JSON object of tensor entries: wrong type at "),
            (file(#"{"a":{"dtype":"Q9","shape":[1],"data_offsets":[0,4]}}"#, data: 4), "tensor 'a': unknown dtype 'Q9'"),
            (file(#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, data: 4), "tensor 'a': shape [-1] has a negative dimension"),
            (file(#"{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,4]}}"#, data: 4),
             "tensor 'a': shape [4611686018427387904, 4] is larger than the file"),
            (file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, data: 4), "tensor 'a': 4 bytes for shape [2] of F32, which needs 8"),
            (file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: 4),
             "tensor 'a': data_offsets [4, 8] are outside the data section of 4 bytes"),
            (file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}"#, data: 8),
             "tensor 'a': data_offsets [8, 4] are outside the data section of 8 bytes"),
            (file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}"#, data: 8),
             "tensor 'b' overlaps the one before it"),
            (file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: 8), "bytes 0..<4 of the data belong to no tensor"),
            (file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: 8), "the data section has 8 bytes but its tensors end at 4"),
            (file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}}"#, data: 4), "tensor 'a': data_offsets has 1 values, not 2"),
            (file(#"{"a":{"shape":[1],"data_offsets":[0,4]}}"#, data: 4), "header is not a JSON object of tensor entries: 'dtype' missing at a"),
        ]
        for (bytes, message) in cases {
            let got = error(bytes)
            #expect(got?.hasPrefix(message) == true, "got \(got ?? "no error"), want \(message)")
        }
    }

    @Test func integerTensorsAreNotFloats() throws {
        let f = try Safetensors(bytes: file(#"{"i":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}}"#, data: 4), name: "t")
        #expect(throws: FormatError("t", "tensor 'i' is I32; adapters hold F32, F16 or BF16")) { try f.floats("i") }
        #expect(throws: FormatError("t", "no tensor 'x'")) { try f.floats("x") }
    }
}
