import Foundation
import Testing
import TesseraFormats
import TesseraTestSupport
import TesseraTokenizer

/// The tokenizer test material: llama.cpp's vocab suite (`ggml-vocab-*.gguf` with `.inp`/`.out`) in
/// `TESSERA_VOCAB_DIR`, else models/vocab, and Gemma 3 270M in models/ (both by scripts/fetch-vocab). A missing file
/// is a failure, never a skip. Each vocabulary is loaded once per test process.
enum VocabSuite {
    /// Byte-level BPE (`gpt2`, and `gemma4`): the 12 with `.inp`/`.out`, then gpt-neox and aquila (pre-tokenizer
    /// `default`, as their files name none).
    static let bytePairNames = ["llama-bpe", "qwen2", "qwen35", "gpt-2", "deepseek-llm", "deepseek-coder", "falcon",
                                "starcoder", "refact", "command-r", "mpt", "gemma-4", "gpt-neox", "aquila"]
    /// SentencePiece (`llama`); aquila, whose name suggests one, is a gpt2 file.
    static let sentencePieceNames = ["llama-spm", "phi-3", "baichuan", "gemma-3"]
    /// The vocabularies llama.cpp ships `.inp`/`.out` for.
    static let withCases = Array(bytePairNames.prefix(12)) + ["llama-spm", "phi-3"]

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

    /// The file of a vocabulary name (`gemma-3` is Gemma 3 270M's model file).
    static func path(_ name: String) throws -> String {
        name == "gemma-3" ? TestModel.repositoryRoot.appendingPathComponent("models/gemma-3-270m-it-Q4_K_M.gguf").path
            : try requireDirectory().appendingPathComponent("ggml-vocab-\(name).gguf").path
    }

    private static let loaded: [String: Result<Tokenizer, TokenizerError>] = {
        var out: [String: Result<Tokenizer, TokenizerError>] = [:]
        for name in bytePairNames + sentencePieceNames {
            do {
                let file = try path(name)
                guard FileManager.default.fileExists(atPath: file) else {
                    throw TokenizerError("\(file) is missing: run scripts/fetch-vocab (or set TESSERA_VOCAB_DIR)")
                }
                out[name] = .success(try Tokenizer(gguf: try GGUFFile(path: file)))
            } catch {
                out[name] = .failure(error as? TokenizerError ?? TokenizerError("\(name): \(error)"))
            }
        }
        return out
    }()

    static func tokenizer(_ name: String) throws -> Tokenizer {
        guard let r = loaded[name] else { throw TokenizerError("no test vocabulary named \(name)") }
        return try r.get()
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

/// llama.cpp's own tokenizer tests (`ggml-vocab-*.gguf.inp` / `.out`, add_special and parse_special off, as its
/// test-tokenizer-0 runs them) on every vocabulary that has them, and each file read as the model it is.
@Suite struct VocabSuiteTests {
    @Test(arguments: VocabSuite.withCases)
    func inputsGiveLlamaCppIds(name: String) throws {
        let dir = try VocabSuite.requireDirectory()
        let tokenizer = try VocabSuite.tokenizer(name)
        let inp = dir.appendingPathComponent("ggml-vocab-\(name).gguf.inp")
        let data = try #require(FileManager.default.contents(atPath: inp.path), "\(inp.path) is missing")
        let out = try String(contentsOf: dir.appendingPathComponent("ggml-vocab-\(name).gguf.out"), encoding: .utf8)
        let cases = VocabSuite.cases(inp: data, out: out)
        #expect(cases.count >= 40, "\(name)")
        for (k, c) in cases.enumerated() {
            let text = String(decoding: c.text, as: UTF8.self)
            #expect(tokenizer.encode(text, addSpecial: false, parseSpecial: false) == c.ids, "\(name) #\(k): \(text.debugDescription)")
        }
    }

    @Test func eachFileIsReadAsItsModel() throws {
        for name in VocabSuite.bytePairNames {
            guard case .bytePair = try VocabSuite.tokenizer(name).model else { Issue.record("\(name) is not read as BPE"); continue }
        }
        for name in VocabSuite.sentencePieceNames {
            guard case .sentencePiece = try VocabSuite.tokenizer(name).model else { Issue.record("\(name) is not read as SentencePiece"); continue }
        }
    }

    /// Models llama.cpp has and Tessera does not are refused by name, never tokenized another way.
    @Test func otherModelsAreRefusedByName() throws {
        let file = try VocabSuite.requireDirectory().appendingPathComponent("ggml-vocab-bert-bge.gguf").path
        #expect(throws: TokenizerError("\(file): tokenizer model 'bert' is not supported (supported: gpt2 (byte-level BPE), llama (SentencePiece BPE), gemma4)")) {
            try Tokenizer(gguf: try GGUFFile(path: file))
        }
    }
}
