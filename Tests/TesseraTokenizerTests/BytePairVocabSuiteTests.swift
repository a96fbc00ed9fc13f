import Foundation
import Testing
import TesseraFormats
import TesseraTestSupport
import TesseraTokenizer

/// Where llama.cpp's vocab suite (ggml-vocab-*.gguf with .inp/.out) is: `TESSERA_VOCAB_DIR`, else models/vocab
/// (scripts/fetch-vocab). Missing is a failure, not a skip.
enum VocabSuite {
    static var directory: URL {
        if let dir = ProcessInfo.processInfo.environment["TESSERA_VOCAB_DIR"], !dir.isEmpty {
            return URL(fileURLWithPath: dir)
        }
        return TestModel.repositoryRoot.appendingPathComponent("models/vocab")
    }

    static func requireDirectory() throws -> URL {
        let dir = directory
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw TokenizerError("llama.cpp's vocab suite is not at \(dir.path): run scripts/fetch-vocab or set TESSERA_VOCAB_DIR")
        }
        return dir
    }

    /// The byte-level BPE vocabularies (tokenizer models gpt2 and gemma4) of the suite, by name (`llama-bpe` …),
    /// loaded once per test process.
    static func bytePairVocabularies() throws -> [(name: String, tokenizer: Tokenizer)] { try loaded.get() }

    private static let loaded = Result { () throws -> [(name: String, tokenizer: Tokenizer)] in try load() }

    private static func load() throws -> [(name: String, tokenizer: Tokenizer)] {
        let dir = try requireDirectory()
        var out: [(String, Tokenizer)] = []
        for file in try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        where file.hasPrefix("ggml-vocab-") && file.hasSuffix(".gguf") {
            let tokenizer: Tokenizer
            do {
                tokenizer = try Tokenizer(gguf: try GGUFFile(path: dir.appendingPathComponent(file).path))
            } catch {
                continue  // another tokenizer model (bert, t5 …); BPE ones must load, which the counts below check
            }
            guard case .bytePair = tokenizer.model else { continue }
            out.append((String(file.dropFirst("ggml-vocab-".count).dropLast(".gguf".count)), tokenizer))
        }
        return out
    }

    /// llama.cpp's test-tokenizer-0 reading of a `.inp`/`.out` pair.
    static func cases(inp: Data, out: String) -> [(text: [UInt8], ids: [Int32])] {
        let raw = [UInt8](inp)
        let sep = Array("\n__ggml_vocab_test__\n".utf8)
        var inputs: [[UInt8]] = []
        var pos = 0
        while pos < raw.count {
            var next = -1
            var i = pos
            while i + sep.count <= raw.count {
                if raw[i] == sep[0] && raw[i..<i + sep.count].elementsEqual(sep) { next = i; break }
                i += 1
            }
            if next < 0 { inputs.append(Array(raw[pos...])); break }
            inputs.append(Array(raw[pos..<next]))
            pos = next + sep.count
        }
        var lines = out.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        return zip(inputs, lines).map { text, line in
            (text, line.split(whereSeparator: { $0 == " " || $0 == "\r" || $0 == "\t" }).compactMap { Int32($0) })
        }
    }
}

/// llama.cpp's own tokenizer tests (`models/ggml-vocab-*.gguf.inp` / `.out`, add_special and parse_special off) on
/// every byte-level BPE vocabulary that has them.
@Suite struct BytePairVocabSuiteTests {
    @Test func inputsGiveLlamaCppIds() throws {
        let dir = try VocabSuite.requireDirectory()
        var vocabularies = 0
        for (name, tokenizer) in try VocabSuite.bytePairVocabularies() {
            let inp = dir.appendingPathComponent("ggml-vocab-\(name).gguf.inp")
            guard let data = FileManager.default.contents(atPath: inp.path) else { continue }
            let out = try String(contentsOf: dir.appendingPathComponent("ggml-vocab-\(name).gguf.out"), encoding: .utf8)
            let cases = VocabSuite.cases(inp: data, out: out)
            #expect(cases.count >= 40, "\(name)")
            for (k, c) in cases.enumerated() {
                let text = String(decoding: c.text, as: UTF8.self)
                #expect(tokenizer.encode(text, addSpecial: false, parseSpecial: false) == c.ids, "\(name) #\(k): \(text.debugDescription)")
            }
            vocabularies += 1
        }
        // llama-bpe, qwen2, qwen35, gpt-2, deepseek-llm, deepseek-coder, falcon, starcoder, refact, command-r, mpt, gemma-4
        #expect(vocabularies >= 12)
    }
}
