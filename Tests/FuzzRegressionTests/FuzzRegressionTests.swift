import Foundation
import Testing
import TesseraFuzzTargets
import TesseraTestSupport

/// Every committed fuzz input — the seed corpora and each input that once crashed, hung or tripped a sanitizer
/// (`Fuzz/regressions/TARGET/`) — runs through its target in the ordinary build: it must come back accepted or
/// refused with a message, never bring the process down.
@Suite struct FuzzRegressionTests {
    static let root = TestModel.repositoryRoot.appendingPathComponent("Fuzz")

    static func inputs(_ folder: String, _ target: String) -> [URL] {
        let dir = root.appendingPathComponent(folder).appendingPathComponent(target)
        return ((try? FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)) ?? [])
            .filter { !$0.lastPathComponent.hasPrefix(".") }.sorted { $0.path < $1.path }
    }

    @Test(arguments: FuzzTargets.all.keys.sorted())
    func committedInputsAreHandled(target: String) throws {
        let run = try #require(FuzzTargets.all[target])
        let seeds = Self.inputs("corpus", target)
        #expect(!seeds.isEmpty, "every target has a seed corpus")
        for url in seeds + Self.inputs("regressions", target) {
            let outcome = run(try Data(contentsOf: url))
            if case .refused(let message) = outcome { #expect(!message.isEmpty, "\(url.lastPathComponent): a refusal says why") }
        }
    }

    /// The seeds are real inputs of each kind: most of them parse.
    @Test(arguments: ["gguf", "safetensors", "tar", "upload", "multipart", "jinja"])
    func seedsAreMostlyValid(target: String) throws {
        let run = try #require(FuzzTargets.all[target])
        let outcomes = try Self.inputs("corpus", target).map { run(try Data(contentsOf: $0)) }
        #expect(outcomes.contains(.accepted), "\(target): no seed parses, so the fuzzer starts from nothing real")
    }
}
