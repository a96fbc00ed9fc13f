import Foundation
import Synchronization
import TesseraAdapters
import TesseraFormats
import TesseraServer
import TesseraTokenizer

/// What a fuzz target made of one input: read it, or refused it with a message. Anything else (a crash, a trap,
/// a hang, a sanitizer report) is the bug the fuzzer looks for.
public enum FuzzOutcome: Equatable, Sendable {
    case accepted
    case refused(String)
}

/// One entry point per parser of untrusted bytes (issue: reliability). `make fuzz` runs each under libFuzzer with
/// address and undefined-behaviour sanitizers; `FuzzRegressionTests` replays the committed corpora through the same
/// functions in the normal build.
public enum FuzzTargets {
    public static let all: [String: @Sendable (Data) -> FuzzOutcome] = [
        "gguf": gguf, "safetensors": safetensors, "tar": tar, "upload": upload, "multipart": multipart,
        "requests": requests, "jinja": jinja, "tokenizer": tokenizer, "tokenizer-bpe": bytePairVocabularies,
        "tokenizer-spm": sentencePieceVocabularies,
    ]

    static func outcome(_ body: () throws -> Void) -> FuzzOutcome {
        do {
            try body()
            return .accepted
        } catch {
            return .refused("\(error)")
        }
    }

    /// A GGUF file: header, metadata, tensor infos, then every tensor's bytes and the tokenizer's metadata.
    static func gguf(_ data: Data) -> FuzzOutcome {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-fuzz-\(getpid()).gguf").path
        guard FileManager.default.createFile(atPath: path, contents: data) else { return .refused("cannot write \(path)") }
        defer { unlink(path) }
        return outcome {
            let file = try GGUFFile(file: try MappedFile(path: path))
            for name in file.tensorNames.prefix(64) {
                let info = try file.info(name)
                let bytes = try file.data(info)
                if bytes.count <= 1 << 20 { _ = try? file.floats(name) }
            }
            _ = try? Tokenizer(gguf: file)
        }
    }

    /// A safetensors file, and every tensor read as floats.
    static func safetensors(_ data: Data) -> FuzzOutcome {
        outcome {
            let s = try Safetensors(bytes: data, name: "fuzz.safetensors")
            for name in s.tensors.keys.sorted().prefix(64) { _ = try s.floats(name) }
        }
    }

    static func tar(_ data: Data) -> FuzzOutcome {
        outcome { _ = try Tar.files(data) }
    }

    /// An uploaded archive: .tar or .tar.zst (bounded decompression), unpacked to the two PEFT files.
    static func upload(_ data: Data) -> FuzzOutcome {
        outcome { _ = try AdapterUpload.unpack(archive: data, limit: 1 << 20) }
    }

    /// First line: the Content-Type; the rest: the multipart body.
    static func multipart(_ data: Data) -> FuzzOutcome {
        outcome { try UntrustedInput.parseUploadForm(data) }
    }

    static func requests(_ data: Data) -> FuzzOutcome {
        UntrustedInput.decodeRequestBodies(data)
        return .accepted
    }

    /// A chat template, parsed and rendered over a fixed conversation.
    static func jinja(_ data: Data) -> FuzzOutcome {
        outcome {
            let template = try ChatTemplate(String(decoding: data, as: UTF8.self))
            _ = try template.render(messages: [("system", "Be brief."), ("user", "Hi <b>there</b>"), ("assistant", "Hello!"), ("user", "2+2?")],
                                    addGenerationPrompt: true, context: ["bos_token": .string("<s>")])
        }
    }

    /// Any text through the default model's tokenizer; byte-level BPE must give the text back, less the bytes the
    /// vocabulary has no token for (`Tokenizer.bytesWithoutToken`; found by this target).
    static func tokenizer(_ data: Data) -> FuzzOutcome {
        guard let t = defaultTokenizer else { return .refused("the default model is needed (TESSERA_MODEL or models/)") }
        let text = String(decoding: data, as: UTF8.self)
        let ids = t.encode(text, parseSpecial: false)
        let kept = String(decoding: text.utf8.filter { !untokenizable.contains($0) }, as: UTF8.self)
        precondition(t.decode(ids) == kept, "decode(encode(text)) != text for \(Array(data))")
        _ = t.encode(text, addSpecial: true, parseSpecial: true)
        return .accepted
    }

    static let untokenizable = defaultTokenizer?.bytesWithoutToken ?? []

    /// First byte: which of llama.cpp's byte-level BPE vocabularies (one per pre-tokenizer family, Gemma 4's
    /// raw-UTF-8 BPE among them); the rest: text, tokenized with and without special tokens, then decoded.
    static func bytePairVocabularies(_ data: Data) -> FuzzOutcome {
        vocabularyTarget(data, bytePairNames)
    }

    /// The same over SentencePiece vocabularies (Llama 2, Phi-3) and Gemma 3's own file.
    static func sentencePieceVocabularies(_ data: Data) -> FuzzOutcome {
        vocabularyTarget(data, sentencePieceNames)
    }

    static let bytePairNames = ["llama-bpe", "qwen2", "qwen35", "gpt-2", "deepseek-llm", "deepseek-coder", "falcon",
                                "starcoder", "refact", "command-r", "mpt", "gemma-4"]
    static let sentencePieceNames = ["llama-spm", "phi-3", "gemma-3-270m-it-Q4_K_M.gguf"]

    static func vocabularyTarget(_ data: Data, _ names: [String]) -> FuzzOutcome {
        guard let first = data.first else { return .refused("empty input") }
        let name = names[Int(first) % names.count]
        guard let t = vocabulary(name) else { return .refused("the vocabulary \(name) is needed (scripts/fetch-vocab)") }
        let text = String(decoding: data.dropFirst(), as: UTF8.self)
        let plain = t.encode(text, parseSpecial: false)
        let special = t.encode(text, addSpecial: true, parseSpecial: true)
        precondition(plain.allSatisfy { $0 >= 0 && Int($0) < t.vocabularySize }, "an id outside the vocabulary")
        precondition(special.allSatisfy { $0 >= 0 && Int($0) < t.vocabularySize }, "an id outside the vocabulary")
        _ = t.encode(t.decode(special), parseSpecial: true)
        return .accepted
    }

    static let vocabularyDirectory: URL = ProcessInfo.processInfo.environment["TESSERA_VOCAB_DIR"].map { URL(fileURLWithPath: $0) }
        ?? repositoryRoot.appendingPathComponent("models/vocab")

    /// Each vocabulary loaded when an input first picks it (loading all at once outlasts libFuzzer's per-input
    /// timeout in the sanitized build), then kept.
    static func vocabulary(_ name: String) -> Tokenizer? {
        loadedVocabularies.withLock { loaded in
            if let t = loaded[name] { return t }
            let path = name.hasSuffix(".gguf") ? repositoryRoot.appendingPathComponent("models/\(name)").path
                : vocabularyDirectory.appendingPathComponent("ggml-vocab-\(name).gguf").path
            let t = (try? GGUFFile(file: MappedFile(path: path))).flatMap { try? Tokenizer(gguf: $0) }
            loaded[name] = t
            return t
        }
    }

    static let loadedVocabularies = Mutex<[String: Tokenizer?]>([:])

    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let defaultTokenizer: Tokenizer? = {
        let path = ProcessInfo.processInfo.environment["TESSERA_MODEL"]
            ?? repositoryRoot.appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path
        guard let file = try? GGUFFile(file: MappedFile(path: path)) else { return nil }
        return try? Tokenizer(gguf: file)
    }()
}
