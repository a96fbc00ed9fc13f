import Foundation
import Testing
import TesseraFormats

/// Dequantized values must equal those of the `gguf` Python package (fixtures by tools/reference/quant_fixtures.py).
@Suite struct DequantizationTests {
    struct Expected: Decodable {
        let type: String
        let shape: [Int]
        let values: [Float]
    }

    static let fixtures = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
    static let file = try! GGUFFile(path: fixtures.appendingPathComponent("quants.gguf").path)
    static let expected = try! JSONDecoder().decode(
        [String: Expected].self, from: Data(contentsOf: fixtures.appendingPathComponent("quants.json")))

    @Test func everySupportedTypeIsCovered() {
        let covered = Set(Self.expected.values.map(\.type))
        #expect(covered == Set(GGMLType.allCases.map(\.name)))
    }

    @Test(arguments: GGMLType.allCases)
    func matchesReference(type: GGMLType) throws {
        let (name, exp) = try #require(Self.expected.first { $0.value.type == type.name })
        let info = try Self.file.info(name)
        #expect(info.type == type)
        #expect(info.shape == exp.shape)
        let got = try Self.file.floats(name)
        #expect(got.count == exp.values.count)
        var worst: Float = 0
        for (a, b) in zip(got, exp.values) { worst = max(worst, abs(a - b)) }
        #expect(worst == 0, "\(type.name): largest difference \(worst)")
    }

    @Test func metadataValuesOfEveryKindAreRead() throws {
        let m = Self.file.metadata
        #expect(m["test.string"] == .string("héllo"))
        #expect(m["test.array"]?.array?.compactMap(\.int) == [1, 2, 3])
        #expect(m["test.bool"] == .bool(true))
        #expect(m["test.f64"] == .float64(2.5))
        #expect(m["test.i8"] == .int8(-5))
        #expect(m["general.architecture"] == .string("test"))
    }
}
