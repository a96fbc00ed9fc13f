import Foundation
import Testing
import TesseraFormats
import TesseraTestSupport
import TesseraTokenizer

/// The SentencePiece (tokenizer model `llama`) vocabularies the tests run on: llama.cpp's suite files (through
/// `VocabSuite`, `TESSERA_VOCAB_DIR` or models/vocab) and Gemma 3 270M (models/, by scripts/fetch-vocab). Missing files
/// are failures, not skips. Loaded once per test process.
enum SentencePieceVocabularies {
    /// The suite's SentencePiece vocabularies; aquila, whose name suggests one, is a gpt2 (byte-level BPE) file.
    static let suiteNames = ["llama-spm", "phi-3", "baichuan"]
    static let gemma3Path = TestModel.repositoryRoot.appendingPathComponent("models/gemma-3-270m-it-Q4_K_M.gguf").path

    private static let loaded: [String: Result<Tokenizer, TokenizerError>] = {
        var out: [String: Result<Tokenizer, TokenizerError>] = [:]
        for name in suiteNames + ["gemma-3"] {
            do {
                let path = name == "gemma-3" ? gemma3Path : try VocabSuite.requireDirectory().appendingPathComponent("ggml-vocab-\(name).gguf").path
                guard FileManager.default.fileExists(atPath: path) else {
                    throw TokenizerError("\(path) is missing: run scripts/fetch-vocab (or set TESSERA_VOCAB_DIR)")
                }
                out[name] = .success(try Tokenizer(gguf: try GGUFFile(path: path)))
            } catch {
                out[name] = .failure(error as? TokenizerError ?? TokenizerError("\(name): \(error)"))
            }
        }
        return out
    }()

    static func tokenizer(_ name: String) throws -> Tokenizer {
        guard let r = loaded[name] else { throw TokenizerError("no SentencePiece vocabulary named \(name)") }
        return try r.get()
    }
}

/// llama.cpp's own tokenizer tests (`ggml-vocab-*.gguf.inp` / `.out`, add_special and parse_special off) on the
/// SentencePiece vocabularies that have them.
@Suite struct SentencePieceVocabSuiteTests {
    @Test(arguments: ["llama-spm", "phi-3"])
    func inputsGiveLlamaCppIds(name: String) throws {
        let dir = try VocabSuite.requireDirectory()
        let tokenizer = try SentencePieceVocabularies.tokenizer(name)
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

    @Test func suiteVocabulariesAreSentencePiece() throws {
        for name in SentencePieceVocabularies.suiteNames + ["gemma-3"] {
            let tokenizer = try SentencePieceVocabularies.tokenizer(name)
            guard case .sentencePiece = tokenizer.model else {
                Issue.record("\(name) is not read as SentencePiece")
                continue
            }
        }
    }
}
